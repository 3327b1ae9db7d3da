/**
 * A NIC stub (class 0x020000, Ethernet): one TX and one RX descriptor ring, cabled back to back to
 * another NIC stub with {@link cable}. Frames are opaque bytes (no MAC filtering, no checksums); every
 * byte moves by DMA through `dev.dma`, so on a fabric the reads, writes and their links are counted,
 * and an RX buffer may as well be a peer's BAR (a GPU's VRAM) as guest RAM.
 *
 * BAR0 (16 KiB, 32-bit MMIO, little-endian; MSI-X table @0x2000, PBA @0x3000; vector 0 RX, 1 TX):
 *   0x00 ID      ro  0x43494e50 ("PNIC")     0x04 VERSION ro 0x00010000
 *   0x08 MAC_LO  rw  MAC bytes 0..3 (byte 0 in bits 7:0)   0x0c MAC_HI rw MAC bytes 4..5 in bits 15:0
 *   0x10 LINK    ro  bit0 UP (cabled)         0x14 INT_STATUS rw1c bit0 RX, bit1 TX
 *   0x20 TX_BASE rw  64-bit ring bus address  0x28 TX_SIZE rw descriptors (≤ 65536)
 *   0x2c TX_HEAD ro  next descriptor the NIC sends   0x30 TX_TAIL rw doorbell: the driver's producer index
 *   0x40 RX_BASE, 0x48 RX_SIZE, 0x4c RX_HEAD (next descriptor the NIC fills), 0x50 RX_TAIL: as for TX
 *   0x60 TX_FRAMES ro  0x64 RX_FRAMES ro  0x68 RX_DROPPED ro (no buffer, buffer too small, RX DMA failed)
 *   0x6c TX_ERRORS ro (bad descriptor, DMA failure, link down)
 * Writing a ring's BASE or SIZE zeroes its HEAD and TAIL. The NIC owns descriptors HEAD..TAIL-1 (one
 * slot stays empty, so a ring of N holds N-1). Descriptor (16 bytes): buffer address u64 @0, length
 * u16 @8, flags u16 @10 (bit0 DONE, bit1 ERROR; written by the NIC), reserved u32 @12.
 * TX: the NIC reads `length` bytes, hands the frame to the cable, writes flags DONE (|ERROR), advances
 * TX_HEAD. RX: `length` is the buffer size; the NIC writes the frame, length = frame bytes, flags
 * DONE, advances RX_HEAD. A frame with no posted buffer (or one too small) is dropped, as on a wire.
 * Interrupts are coalesced: one per drained TX batch (vector 1) and per drained RX burst (vector 0).
 */
import { hex } from '@p2pkit/base';
import {
  type DeviceInstance,
  type EndpointDefinition,
  type EndpointHandle,
  type EndpointInstanceOptions,
  defineEndpoint,
  memfdBarMemory,
  mmio,
  msix,
  pciExpress,
} from '@p2pkit/pci';

// biome-ignore format: register map
export const NicReg = {
  ID: 0x00, VERSION: 0x04, MAC_LO: 0x08, MAC_HI: 0x0c, LINK: 0x10, INT_STATUS: 0x14,
  TX_BASE: 0x20, TX_SIZE: 0x28, TX_HEAD: 0x2c, TX_TAIL: 0x30, RX_BASE: 0x40, RX_SIZE: 0x48, RX_HEAD: 0x4c, RX_TAIL: 0x50,
  TX_FRAMES: 0x60, RX_FRAMES: 0x64, RX_DROPPED: 0x68, TX_ERRORS: 0x6c,
} as const;
export const NicInt = { RX: 1, TX: 2 } as const;
export const DescFlags = { DONE: 1, ERROR: 2 } as const;
export const NicVector = { RX: 0, TX: 1 } as const;
export const NIC_ID = 0x4349_4e50;
export const DESCRIPTOR_SIZE = 16;
const MAX_RING = 65536;
const MAX_QUEUED_FRAMES = 1024;
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
}

interface NicState {
  readonly dev: EndpointHandle;
  readonly mac: Uint8Array;
  regs: DataView;
  peer: NicState | undefined;
  generation: number;
  txBusy: boolean;
  rxBusy: boolean;
  rxQueue: Uint8Array[];
}

const nics = new WeakMap<EndpointHandle, NicState>();
let instances = 0;

/** A NIC stub instance: serve `endpoint`; connect two with {@link cable}. */
export interface NicDevice extends DeviceInstance {
  /** Its MAC address, `02:50:32:50:00:01` style. */
  readonly mac: string;
}

/** Creates a NIC stub (link down until {@link cable}d to another). */
export async function createNic(options: NicOptions = {}, instance: EndpointInstanceOptions = {}): Promise<NicDevice> {
  const endpoint = nic(options).create({ memory: memfdBarMemory, ...instance });
  const mac = [...stateOf(endpoint).mac].map((b) => b.toString(16).padStart(2, '0')).join(':');
  const close = async () => {
    unplug(stateOf(endpoint));
    endpoint.close();
  };
  return { endpoint, mac, close, [Symbol.asyncDispose]: close };
}

/** The NIC stub's declaration ({@link createNic} instantiates it). */
function nic(options: NicOptions): EndpointDefinition {
  const fixedMac = options.mac === undefined ? undefined : parseMac(options.mac);
  const nicState = (dev: EndpointHandle): NicState => nics.get(dev) as NicState;
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
      const s: NicState = { dev, mac, regs: initialRegs(mac), peer: undefined, generation: 0, txBusy: false, rxBusy: false, rxQueue: [] };
      nics.set(dev, s);
    },
    reset: (dev) => {
      const s = nicState(dev);
      Object.assign(s, { regs: initialRegs(s.mac), generation: s.generation + 1, txBusy: false, rxBusy: false, rxQueue: [] });
      s.regs.setUint32(NicReg.LINK, s.peer ? 1 : 0, true);
    },
  });
}

/** Something holding a NIC instance: a `NicDevice`, its `Endpoint`, a `FabricEndpoint`, or the handle itself. */
export type NicRef = EndpointHandle | { handle: EndpointHandle } | { endpoint: { handle: EndpointHandle } };

/** Cables two NIC instances back to back (replacing earlier cables); returns the unplug function. */
export function cable(a: NicRef, b: NicRef): () => void {
  const [sa, sb] = [stateOf(a), stateOf(b)];
  for (const s of [sa, sb]) unplug(s);
  sa.peer = sb;
  sb.peer = sa;
  for (const s of [sa, sb]) s.regs.setUint32(NicReg.LINK, 1, true);
  return () => {
    if (sa.peer === sb) unplug(sa);
  };
}

function stateOf(ref: NicRef): NicState {
  const dev = 'endpoint' in ref ? ref.endpoint.handle : 'handle' in ref ? ref.handle : ref;
  const s = nics.get(dev);
  if (!s) throw new TypeError('cable: not a NIC instance (create it with createNic())');
  return s;
}

function unplug(s: NicState): void {
  for (const end of [s.peer, s]) {
    if (!end) continue;
    end.peer = undefined;
    end.regs.setUint32(NicReg.LINK, 0, true);
  }
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

const bump = (r: DataView, off: number) => r.setUint32(off, r.getUint32(off, true) + 1, true);
const flagsBytes = (flags: number) => Uint8Array.of(flags & 0xff, flags >> 8);

/** Sends the frames of descriptors TX_HEAD..TX_TAIL-1. */
async function transmit(s: NicState): Promise<void> {
  if (s.txBusy) return;
  s.txBusy = true;
  const { regs: r, generation, dev } = s;
  let sent = false;
  try {
    for (;;) {
      const [head, size] = [r.getUint32(NicReg.TX_HEAD, true), r.getUint32(NicReg.TX_SIZE, true)];
      if (head === r.getUint32(NicReg.TX_TAIL, true) || head >= size) break;
      const desc = r.getBigUint64(NicReg.TX_BASE, true) + BigInt(head * DESCRIPTOR_SIZE);
      let flags: number = DescFlags.DONE;
      try {
        const d = new DataView((await dev.dma.read(desc, DESCRIPTOR_SIZE)).slice().buffer);
        const length = d.getUint16(8, true);
        if (length === 0) throw new Error('zero-length TX descriptor');
        const frame = await dev.dma.read(d.getBigUint64(0, true), length);
        if (s.generation !== generation) return;
        if (!s.peer) throw new Error('link down');
        deliver(s.peer, frame.slice());
        bump(r, NicReg.TX_FRAMES);
      } catch (e) {
        if (s.generation !== generation) return;
        flags |= DescFlags.ERROR;
        bump(r, NicReg.TX_ERRORS);
        if ((e as Error).message !== 'link down') dev.guestError(`nic: TX descriptor ${head} at ${hex(desc)}: ${(e as Error).message}`);
      }
      try {
        await dev.dma.write(desc + 10n, flagsBytes(flags));
      } catch (e) {
        dev.guestError(`nic: TX write-back at ${hex(desc)}: ${(e as Error).message}`);
      }
      if (s.generation !== generation) return;
      if (r.getUint32(NicReg.TX_HEAD, true) === head) r.setUint32(NicReg.TX_HEAD, (head + 1) % size, true); // unless the ring was re-initialised
      r.setUint32(NicReg.INT_STATUS, r.getUint32(NicReg.INT_STATUS, true) | NicInt.TX, true);
      sent = true;
    }
  } finally {
    if (s.generation === generation) {
      s.txBusy = false;
      if (sent) dev.raise(NicVector.TX);
    }
  }
}

function deliver(s: NicState, frame: Uint8Array): void {
  if (s.rxQueue.length >= MAX_QUEUED_FRAMES) return bump(s.regs, NicReg.RX_DROPPED);
  s.rxQueue.push(frame);
  void receive(s);
}

/** Places queued frames into the buffers of descriptors RX_HEAD..RX_TAIL-1. */
async function receive(s: NicState): Promise<void> {
  if (s.rxBusy) return;
  s.rxBusy = true;
  const { regs: r, generation, dev } = s;
  let received = false;
  try {
    for (let frame = s.rxQueue.shift(); frame; frame = s.rxQueue.shift()) {
      const [head, size] = [r.getUint32(NicReg.RX_HEAD, true), r.getUint32(NicReg.RX_SIZE, true)];
      if (head === r.getUint32(NicReg.RX_TAIL, true) || head >= size) {
        bump(r, NicReg.RX_DROPPED);
        continue;
      }
      const desc = r.getBigUint64(NicReg.RX_BASE, true) + BigInt(head * DESCRIPTOR_SIZE);
      try {
        const d = new DataView((await dev.dma.read(desc, DESCRIPTOR_SIZE)).slice().buffer);
        if (s.generation !== generation) return;
        if (frame.length > d.getUint16(8, true)) {
          bump(r, NicReg.RX_DROPPED);
          continue;
        }
        await dev.dma.write(d.getBigUint64(0, true), frame);
        await dev.dma.write(desc + 8n, Uint8Array.of(frame.length & 0xff, frame.length >> 8, ...flagsBytes(DescFlags.DONE)));
      } catch (e) {
        if (s.generation !== generation) return;
        bump(r, NicReg.RX_DROPPED);
        dev.guestError(`nic: RX descriptor ${head} at ${hex(desc)}: ${(e as Error).message}`);
        continue;
      }
      if (s.generation !== generation) return;
      if (r.getUint32(NicReg.RX_HEAD, true) === head) r.setUint32(NicReg.RX_HEAD, (head + 1) % size, true);
      r.setUint32(NicReg.INT_STATUS, r.getUint32(NicReg.INT_STATUS, true) | NicInt.RX, true);
      bump(r, NicReg.RX_FRAMES);
      received = true;
    }
  } finally {
    if (s.generation === generation) {
      s.rxBusy = false;
      if (received) dev.raise(NicVector.RX);
    }
  }
}
