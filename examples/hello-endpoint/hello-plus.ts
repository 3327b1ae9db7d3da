/**
 * hello-plus: the hello endpoint grown into a device with a second BAR, more capabilities and two
 * interrupt vectors (docs/writing-an-endpoint.md walks through it).
 *
 * BAR0 (4 KiB, 32-bit MMIO): registers 0x00–0x3f, MSI-X table @0x800, PBA @0xc00.
 *   0x00 SCRATCH rw   0x08 SRC rw 64-bit   0x10 DST rw 64-bit   0x18 LEN rw   0x1c CTRL wo (1 = go)
 *   0x20 STATUS (1 busy, 2 done, 4 error; write 1s to clear)   0x24 COPIES ro   0x28 BUFFER_SIZE ro
 * BAR2 (2 MiB, 64-bit prefetchable memory): a buffer the guest CPU maps and peers DMA into.
 * Interrupts: MSI-X vector 0 when a copy is done, vector 1 when it failed; INTA# without MSI-X.
 * Capabilities: PM, PCI Express, MSI-X, a vendor-specific one ("HELO", version 1); extended: DSN.
 */
import {
  type AccessSize,
  defineEndpoint,
  type EndpointHandle,
  instanceState,
  memory,
  mmio,
  msix,
  pciExpress,
  powerManagement,
  serialNumber,
  vendorSpecific,
} from '@p2pkit/pci';

// #region registers
export const PlusReg = {
  SCRATCH: 0x00,
  SRC: 0x08,
  DST: 0x10,
  LEN: 0x18,
  CTRL: 0x1c,
  STATUS: 0x20,
  COPIES: 0x24,
  BUFFER_SIZE: 0x28,
} as const;
export const PlusStatus = { BUSY: 1, DONE: 2, ERROR: 4 } as const;
export const PlusVector = { DONE: 0, ERROR: 1 } as const;
export const BUFFER_BAR = 2;
export const BUFFER_SIZE = 2 << 20;
const REGISTER_BYTES = 0x40;

/** Per-instance state: each endpoint created from the declaration gets its own register file. */
const state = instanceState(() => ({ regs: new DataView(new ArrayBuffer(REGISTER_BYTES)) }));
// #endregion registers

function read(dev: EndpointHandle, off: number, size: AccessSize): bigint {
  const regs = state(dev).regs;
  if (off === PlusReg.BUFFER_SIZE) return BigInt(BUFFER_SIZE);
  if (off + size > REGISTER_BYTES) return 0n; // the BAR decodes all 4 KiB; past the registers reads 0
  if (size === 8) return regs.getBigUint64(off, true);
  return BigInt(size === 4 ? regs.getUint32(off, true) : size === 2 ? regs.getUint16(off, true) : regs.getUint8(off));
}

function write(dev: EndpointHandle, off: number, size: AccessSize, value: bigint): void {
  const regs = state(dev).regs;
  if (off + size > REGISTER_BYTES || off === PlusReg.COPIES || off === PlusReg.BUFFER_SIZE) return; // read-only or unused
  if (off === PlusReg.STATUS) {
    regs.setUint32(off, regs.getUint32(off, true) & ~Number(value), true);
    if (!(regs.getUint32(off, true) & (PlusStatus.DONE | PlusStatus.ERROR))) dev.lowerIntx(); // INTx is level-triggered
    return;
  }
  if (off === PlusReg.CTRL) {
    if (value & 1n) void copy(dev); // runs after the MMIO reply is sent: callbacks stay synchronous
    return;
  }
  if (size === 8) regs.setBigUint64(off, value, true);
  else regs.setUint32(off, Number(value & 0xffff_ffffn), true);
}

// #region declaration
export const helloPlus = defineEndpoint({
  name: 'hello-plus',
  ids: { vendor: 0x1b36, device: 0x00f5, subsystemVendor: 0x1b36, subsystem: 0x0001, class: 0xff0000, revision: 1 },
  bars: {
    0: mmio({ size: 4096, read: (off, size, dev) => read(dev, off, size), write: (off, size, value, dev) => write(dev, off, size, value) }),
    // Memory BAR: plain bytes (a memfd when served), so guest CPU accesses never reach this process.
    [BUFFER_BAR]: memory({ size: BUFFER_SIZE, bits: 64, prefetchable: true, name: 'buffer' }),
  },
  capabilities: [
    powerManagement(),
    pciExpress.endpoint(),
    msix({ vectors: 2, bar: 0, table: 0x800, pba: 0xc00 }),
    vendorSpecific(Uint8Array.of(0x48, 0x45, 0x4c, 0x4f, 1)), // "HELO", version 1
  ],
  extendedCapabilities: [serialNumber(0x0123_4567_89ab_cdefn)],
  interruptPin: 1, // INTA#, for a driver that does not enable MSI-X
  reset: (dev) => new Uint8Array(state(dev).regs.buffer).fill(0),
});
// #endregion declaration

// #region dma
/** Offset in its own buffer when [address, +length) lies inside BAR2: the device's own memory, no bus transaction. */
function inBuffer(dev: EndpointHandle, address: bigint, length: number): number | undefined {
  const base = dev.bar(BUFFER_BAR).address;
  if (base === undefined || address < base || address + BigInt(length) > base + BigInt(BUFFER_SIZE)) return undefined;
  return Number(address - base);
}

/** Copies LEN bytes SRC → DST: its own buffer locally, guest RAM or a peer's BAR over the bus. */
async function copy(dev: EndpointHandle): Promise<void> {
  const regs = state(dev).regs;
  const [src, dst, length] = [
    regs.getBigUint64(PlusReg.SRC, true),
    regs.getBigUint64(PlusReg.DST, true),
    regs.getUint32(PlusReg.LEN, true),
  ];
  regs.setUint32(PlusReg.STATUS, PlusStatus.BUSY, true);
  try {
    // dev.dma refuses while Bus Master Enable is clear; on a fabric it routes and counts every link.
    const from = inBuffer(dev, src, length);
    const data = from === undefined ? await dev.dma.read(src, length) : dev.memory(BUFFER_BAR).slice(from, from + length);
    const to = inBuffer(dev, dst, length);
    if (to === undefined) await dev.dma.write(dst, data);
    else dev.memory(BUFFER_BAR).set(data, to);
    regs.setUint32(PlusReg.COPIES, regs.getUint32(PlusReg.COPIES, true) + 1, true);
    regs.setUint32(PlusReg.STATUS, PlusStatus.DONE, true);
    dev.raise(PlusVector.DONE);
  } catch (e) {
    dev.guestError(`hello-plus: DMA failed: ${(e as Error).message}`);
    regs.setUint32(PlusReg.STATUS, PlusStatus.ERROR, true);
    dev.raise(PlusVector.ERROR); // MSI-X vector 1, or INTA# (held until the driver clears STATUS)
  }
}
// #endregion dma
