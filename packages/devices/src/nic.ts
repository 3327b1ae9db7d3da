/**
 * A NIC stub (class 0x020000, Ethernet): one TX and one RX descriptor ring, cabled back to back to
 * another NIC stub with `cable()`, or to a host-side backend on a UNIX socket with `socketBackend()`
 * (outside processes send and receive frames there). Frames are opaque bytes (no MAC filtering, no
 * checksums); every byte moves by DMA through `dev.dma`, so on a fabric the reads, writes and their
 * links are counted, and a TX or RX buffer may as well be a peer's BAR (a CMB, a PMR, a GPU's VRAM)
 * as guest RAM.
 *
 * BAR0 (16 KiB, 32-bit MMIO, little-endian; MSI-X table @0x2000, PBA @0x3000; vector 0 RX, 1 TX):
 *   0x00 ID      ro  0x43494e50 ("PNIC")     0x04 VERSION ro 0x00010000
 *   0x08 MAC_LO  rw  MAC bytes 0..3 (byte 0 in bits 7:0)   0x0c MAC_HI rw MAC bytes 4..5 in bits 15:0
 *   0x10 LINK    ro  bit0 UP (linked)         0x14 INT_STATUS rw1c bit0 RX, bit1 TX
 *   0x20 TX_BASE rw  64-bit ring bus address  0x28 TX_SIZE rw descriptors (≤ 65536)
 *   0x2c TX_HEAD ro  next descriptor the NIC sends   0x30 TX_TAIL rw doorbell: the driver's producer index
 *   0x40 RX_BASE, 0x48 RX_SIZE, 0x4c RX_HEAD (next descriptor the NIC fills), 0x50 RX_TAIL: as for TX
 *   0x60 TX_FRAMES ro  0x64 RX_FRAMES ro  0x68 RX_DROPPED ro (no buffer, buffer too small, RX DMA failed)
 *   0x6c TX_ERRORS ro (bad descriptor, DMA failure, link down)
 * Writing a ring's BASE or SIZE zeroes its HEAD and TAIL. The NIC owns descriptors HEAD..TAIL-1 (one
 * slot stays empty, so a ring of N holds N-1). Descriptor (16 bytes): buffer address u64 @0, length
 * u16 @8, flags u16 @10 (bit0 DONE, bit1 ERROR; written by the NIC), reserved u32 @12.
 * TX: the NIC reads `length` bytes, hands the frame to the link, writes flags DONE (|ERROR), advances
 * TX_HEAD. RX: `length` is the buffer size; the NIC writes the frame, length = frame bytes, flags
 * DONE, advances RX_HEAD. A frame with no posted buffer (or one too small) is dropped, as on a wire.
 * Interrupts are coalesced: one per drained TX batch (vector 1) and per drained RX burst (vector 0).
 */
import { hex } from '@p2pkit/base';
import {
  type DeviceInstance,
  defineEndpoint,
  type EndpointDefinition,
  type EndpointHandle,
  type EndpointInstanceOptions,
  memfdBarMemory,
  mmio,
  msix,
  pciExpress,
} from '@p2pkit/pci';
import { type NicState, registerNic, stateOf, unplug } from './nic-link.ts';
import { NIC_ID, NicReg } from './nic-regs.ts';
import { receive, transmit } from './nic-rings.ts';
import { type NicSocketBackend, socketBackend } from './nic-socket.ts';

const MAX_RING = 65536;
/** Field offsets inside a ring's registers. */
const Ring = { BASE: 0, SIZE: 8, HEAD: 0xc, TAIL: 0x10 } as const;

/** Options of {@link createNic}. */
export interface NicOptions {
  /** Instance name in logs. Default `nic`. */
  name?: string;
  /** "02:00:00:00:00:01" style; default a locally administered 02:50:32:50:xx:xx, distinct per instance. */
  mac?: string;
  /** PCI device ID under vendor 0x1b36. Default 0x00f3. */
  deviceId?: number;
  /** Link the NIC to a host-side backend listening on this UNIX socket path (see `socketBackend`); closed with the NIC. */
  socket?: string;
}

let instances = 0;

/** A NIC stub instance: serve `endpoint`; link it with `cable()` or `socketBackend()`. */
export interface NicDevice extends DeviceInstance {
  /** Its MAC address, `02:50:32:50:00:01` style. */
  readonly mac: string;
  /** The host-side backend when created with `options.socket`. */
  readonly backend: NicSocketBackend | undefined;
}

/** Creates a NIC stub (link down until cabled to another NIC or to a socket backend). */
export async function createNic(options: NicOptions = {}, instance: EndpointInstanceOptions = {}): Promise<NicDevice> {
  const endpoint = nic(options).create({ memory: memfdBarMemory, ...instance });
  const mac = [...stateOf(endpoint).mac].map((b) => b.toString(16).padStart(2, '0')).join(':');
  let backend: NicSocketBackend | undefined;
  try {
    if (options.socket !== undefined) backend = await socketBackend(endpoint, options.socket);
  } catch (e) {
    endpoint.close();
    throw e;
  }
  const close = async () => {
    await backend?.close();
    unplug(stateOf(endpoint));
    endpoint.close();
  };
  return { endpoint, mac, backend, close, [Symbol.asyncDispose]: close };
}

/** The NIC stub's declaration ({@link createNic} instantiates it). */
function nic(options: NicOptions): EndpointDefinition {
  const fixedMac = options.mac === undefined ? undefined : parseMac(options.mac);
  const nicState = (dev: EndpointHandle): NicState => stateOf(dev);
  return defineEndpoint({
    name: options.name ?? 'nic',
    ids: { vendor: 0x1b36, device: options.deviceId ?? 0x00f3, class: 0x020000, revision: 1 },
    bars: {
      0: mmio({
        size: 0x4000,
        read: (off, size, dev) => {
          const r = nicState(dev).regs;
          if (off + size > r.byteLength) return 0;
          if (size === 8) return r.getBigUint64(off, true);
          if (size === 4) return r.getUint32(off, true);
          return size === 2 ? r.getUint16(off, true) : r.getUint8(off);
        },
        write: (off, size, value, dev) => writeReg(nicState(dev), off, size, value),
      }),
    },
    capabilities: [pciExpress.endpoint(), msix({ vectors: 2, bar: 0, table: 0x2000, pba: 0x3000 })],
    setup: (dev) => {
      const n = ++instances;
      const mac = fixedMac ?? Uint8Array.of(0x02, 0x50, 0x32, 0x50, (n >> 8) & 0xff, n & 0xff);
      const s: NicState = {
        dev,
        mac,
        regs: initialRegs(mac),
        link: undefined,
        generation: 0,
        txBusy: false,
        rxBusy: false,
        rxQueue: [],
        receive: () => void receive(s),
      };
      registerNic(s);
    },
    reset: (dev) => {
      const s = nicState(dev);
      Object.assign(s, { regs: initialRegs(s.mac), generation: s.generation + 1, txBusy: false, rxBusy: false, rxQueue: [] });
      s.regs.setUint32(NicReg.LINK, s.link ? 1 : 0, true);
    },
  });
}

function initialRegs(mac: Uint8Array): DataView {
  const r = new DataView(new ArrayBuffer(0x80));
  r.setUint32(NicReg.ID, NIC_ID, true);
  r.setUint32(NicReg.VERSION, 0x0001_0000, true);
  for (let i = 0; i < 6; i++) r.setUint8(NicReg.MAC_LO + i, mac[i] ?? 0);
  return r;
}

function parseMac(text: string): Uint8Array {
  const parts = text.split(/[:-]/);
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-f]{2}$/i.test(p))) throw new RangeError(`nic: bad MAC address ${text}`);
  return Uint8Array.from(parts, (p) => Number.parseInt(p, 16));
}

function writeReg(s: NicState, off: number, size: number, value: bigint): void {
  const r = s.regs;
  const store = () => (size === 8 ? r.setBigUint64(off, value, true) : r.setUint32(off, Number(value & 0xffff_ffffn), true));
  if (off === NicReg.MAC_LO || off === NicReg.MAC_HI) return store();
  if (off === NicReg.INT_STATUS) return r.setUint32(off, r.getUint32(off, true) & ~Number(value), true);
  if (off < NicReg.TX_BASE || off >= NicReg.TX_FRAMES) return;
  const ring = off >= NicReg.RX_BASE ? NicReg.RX_BASE : NicReg.TX_BASE;
  const field = off - ring;
  if (field === Ring.BASE || field === Ring.BASE + 4 || field === Ring.SIZE) {
    if (field === Ring.SIZE && value > BigInt(MAX_RING)) return s.dev.guestError(`nic: ring size ${value} > ${MAX_RING}`);
    store();
    r.setUint32(ring + Ring.HEAD, 0, true);
    r.setUint32(ring + Ring.TAIL, 0, true);
  } else if (field === Ring.TAIL) {
    if (value >= BigInt(r.getUint32(ring + Ring.SIZE, true))) return s.dev.guestError(`nic: tail ${value} outside the ${hex(ring)} ring`);
    store();
    if (ring === NicReg.TX_BASE) void transmit(s);
    else void receive(s);
  }
}
