/**
 * The hello endpoint: a scratch register and a tiny DMA engine that copies guest memory and raises
 * MSI-X vector 0 when done. BAR0 registers (little-endian):
 *   0x00 SCRATCH (rw)  0x08 SRC (64-bit)  0x10 DST (64-bit)  0x18 LEN  0x1c CTRL (write 1 = go)
 *   0x20 STATUS (1 busy, 2 done, 4 error; write 1s to clear)  0x24 COPIES (finished copies)
 */
import { defineEndpoint, type EndpointHandle, instanceState, mmio, msix, pciExpress, powerManagement, serialNumber } from '@p2pkit/pci';

export const Reg = { SCRATCH: 0x00, SRC: 0x08, DST: 0x10, LEN: 0x18, CTRL: 0x1c, STATUS: 0x20, COPIES: 0x24 } as const;
export const Status = { BUSY: 1, DONE: 2, ERROR: 4 } as const;

/** The register file: the first 0x40 bytes of the 4 KiB BAR0. */
const REGISTER_BYTES = 0x40;
const state = instanceState(() => ({ regs: new DataView(new ArrayBuffer(REGISTER_BYTES)), ignoredWriteLogged: false }));

// The BAR decodes all 4 KiB (PCI 3.0 §6.2.5.1: a BAR claims its whole size), so an access past the
// registers is no device bug: reads return 0, writes are dropped. The MSI-X table (0x800) and PBA
// (0xc00) never reach these callbacks.
function readRegister(regs: DataView, off: number, size: number): bigint {
  if (off + size > REGISTER_BYTES) return 0n;
  if (size === 8) return regs.getBigUint64(off, true);
  if (size === 4) return BigInt(regs.getUint32(off, true));
  return BigInt(size === 2 ? regs.getUint16(off, true) : regs.getUint8(off));
}

function writeRegister(regs: DataView, off: number, size: number, value: bigint): void {
  if (size === 8) regs.setBigUint64(off, value, true);
  else if (size === 4) regs.setUint32(off, Number(value & 0xffff_ffffn), true);
  else if (size === 2) regs.setUint16(off, Number(value & 0xffffn), true);
  else regs.setUint8(off, Number(value & 0xffn));
}

export const hello = defineEndpoint({
  name: 'hello',
  ids: { vendor: 0x1b36, device: 0x00f0, subsystemVendor: 0x1b36, subsystem: 0x0001, class: 0xff0000, revision: 1 },
  bars: {
    0: mmio({
      size: 4096,
      read: (off, size, dev) => readRegister(state(dev).regs, off, size),
      write: (off, size, value, dev) => {
        const s = state(dev);
        if (off + size > REGISTER_BYTES) {
          // Logged once per reset, so a guest looping over the BAR cannot flood the log.
          if (!s.ignoredWriteLogged)
            dev.guestError(`hello: write past the registers ignored (BAR0 ${size} bytes at 0x${off.toString(16)})`);
          s.ignoredWriteLogged = true;
          return;
        }
        const regs = s.regs;
        if (off === Reg.STATUS) return regs.setUint32(off, regs.getUint32(off, true) & ~Number(value), true);
        writeRegister(regs, off, size, value);
        if (off === Reg.CTRL && value & 1n) void copy(dev); // runs after the MMIO reply is sent
      },
    }),
  },
  capabilities: [powerManagement(), pciExpress.endpoint(), msix({ vectors: 2, bar: 0, table: 0x800, pba: 0xc00 })],
  extendedCapabilities: [serialNumber(0x0123_4567_89ab_cdefn)],
  reset: (dev) => {
    const s = state(dev);
    new Uint8Array(s.regs.buffer).fill(0);
    s.ignoredWriteLogged = false;
  },
});

async function copy(dev: EndpointHandle): Promise<void> {
  const regs = state(dev).regs;
  regs.setUint32(Reg.STATUS, Status.BUSY, true);
  try {
    const data = await dev.dma.read(regs.getBigUint64(Reg.SRC, true), regs.getUint32(Reg.LEN, true));
    await dev.dma.write(regs.getBigUint64(Reg.DST, true), data);
    regs.setUint32(Reg.COPIES, regs.getUint32(Reg.COPIES, true) + 1, true);
    regs.setUint32(Reg.STATUS, Status.DONE, true);
  } catch (e) {
    dev.guestError(`hello: DMA failed: ${(e as Error).message}`);
    regs.setUint32(Reg.STATUS, Status.ERROR, true);
  }
  dev.raise(0);
}
