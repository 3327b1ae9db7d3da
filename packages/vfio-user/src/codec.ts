/**
 * Encoders and decoders for every vfio-user message p2pkit handles. Offsets below are relative to
 * the payload (absolute offset − 16). Decoders validate sizes and throw MalformedMessageError.
 */
import { MalformedMessageError } from './errors.ts';
import { HEADER_SIZE, HeaderFlags, REGION_INFO_CAP_SPARSE_MMAP, WRITE_MULTI_DATA, WRITE_MULTI_MAX } from './protocol.ts';

export interface Header {
  id: number;
  command: number;
  /** Whole message size, header included. */
  size: number;
  flags: number;
  error: number;
}

/** One framed message: header, payload (bytes after the header) and received fds. */
export interface Message {
  header: Header;
  payload: Buffer;
  fds: number[];
}

export const isReply = (h: Header): boolean => (h.flags & HeaderFlags.TYPE_MASK) === HeaderFlags.TYPE_REPLY;
export const wantsReply = (h: Header): boolean => (h.flags & HeaderFlags.NO_REPLY) === 0;

export function decodeHeader(b: Uint8Array): Header {
  const v = new DataView(b.buffer, b.byteOffset, HEADER_SIZE);
  return {
    id: v.getUint16(0, true),
    command: v.getUint16(2, true),
    size: v.getUint32(4, true),
    flags: v.getUint32(8, true),
    error: v.getUint32(12, true),
  };
}

/** Build a whole message (header + payload). */
export function encodeMessage(h: Omit<Header, 'size'>, payload: Uint8Array = EMPTY): Buffer {
  const b = Buffer.allocUnsafe(HEADER_SIZE + payload.length);
  b.writeUInt16LE(h.id & 0xffff, 0);
  b.writeUInt16LE(h.command, 2);
  b.writeUInt32LE(b.length, 4);
  b.writeUInt32LE(h.flags >>> 0, 8);
  b.writeUInt32LE(h.error >>> 0, 12);
  b.set(payload, HEADER_SIZE);
  return b;
}

const EMPTY = new Uint8Array(0);

export function errorReply(request: Header, errno: number): Buffer {
  return encodeMessage({
    id: request.id,
    command: request.command,
    flags: HeaderFlags.TYPE_REPLY | HeaderFlags.ERROR,
    error: errno,
  });
}

export function reply(request: Header, payload?: Uint8Array): Buffer {
  return encodeMessage({ id: request.id, command: request.command, flags: HeaderFlags.TYPE_REPLY, error: 0 }, payload);
}

function need(p: Uint8Array, n: number, what: string): DataView {
  if (p.length < n) throw new MalformedMessageError(`${what}: payload of ${p.length} bytes, need ${n}`);
  return new DataView(p.buffer, p.byteOffset, p.length);
}

// --- VERSION ---------------------------------------------------------------------------------

export interface VersionPayload {
  major: number;
  minor: number;
  capabilities: Record<string, unknown>;
}

export function encodeVersion(v: VersionPayload): Buffer {
  const json = Buffer.from(`${JSON.stringify({ capabilities: v.capabilities })}\0`, 'utf8');
  const b = Buffer.alloc(4 + json.length);
  b.writeUInt16LE(v.major, 0);
  b.writeUInt16LE(v.minor, 2);
  json.copy(b, 4);
  return b;
}

export function decodeVersion(p: Uint8Array): VersionPayload {
  const v = need(p, 4, 'VERSION');
  const text = Buffer.from(p.subarray(4)).toString('utf8');
  const end = text.indexOf('\0');
  const json = end >= 0 ? text.slice(0, end) : text;
  let capabilities: Record<string, unknown> = {};
  if (json.trim().length) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch {
      throw new MalformedMessageError('VERSION: capabilities are not valid JSON');
    }
    if (typeof parsed !== 'object' || parsed === null) throw new MalformedMessageError('VERSION: capabilities not an object');
    const caps = (parsed as { capabilities?: unknown }).capabilities;
    if (caps !== undefined && (typeof caps !== 'object' || caps === null)) {
      throw new MalformedMessageError('VERSION: "capabilities" is not an object');
    }
    capabilities = (caps ?? {}) as Record<string, unknown>;
  }
  return { major: v.getUint16(0, true), minor: v.getUint16(2, true), capabilities };
}

// --- DMA_MAP / DMA_UNMAP ---------------------------------------------------------------------

export interface DmaMapPayload {
  argsz: number;
  flags: number;
  /** Offset inside the passed fd. */
  offset: bigint;
  address: bigint;
  size: bigint;
}

export function encodeDmaMap(m: Omit<DmaMapPayload, 'argsz'>): Buffer {
  const b = Buffer.alloc(32);
  b.writeUInt32LE(32, 0);
  b.writeUInt32LE(m.flags, 4);
  b.writeBigUInt64LE(m.offset, 8);
  b.writeBigUInt64LE(m.address, 16);
  b.writeBigUInt64LE(m.size, 24);
  return b;
}

export function decodeDmaMap(p: Uint8Array): DmaMapPayload {
  const v = need(p, 32, 'DMA_MAP');
  const argsz = v.getUint32(0, true);
  if (argsz < 32) throw new MalformedMessageError(`DMA_MAP: argsz ${argsz} < 32`);
  return {
    argsz,
    flags: v.getUint32(4, true),
    offset: v.getBigUint64(8, true),
    address: v.getBigUint64(16, true),
    size: v.getBigUint64(24, true),
  };
}

export interface DmaUnmapPayload {
  argsz: number;
  flags: number;
  address: bigint;
  size: bigint;
}

export function encodeDmaUnmap(m: Omit<DmaUnmapPayload, 'argsz'>): Buffer {
  const b = Buffer.alloc(24);
  b.writeUInt32LE(24, 0);
  b.writeUInt32LE(m.flags, 4);
  b.writeBigUInt64LE(m.address, 8);
  b.writeBigUInt64LE(m.size, 16);
  return b;
}

export function decodeDmaUnmap(p: Uint8Array): DmaUnmapPayload {
  const v = need(p, 24, 'DMA_UNMAP');
  const argsz = v.getUint32(0, true);
  if (argsz < 24) throw new MalformedMessageError(`DMA_UNMAP: argsz ${argsz} < 24`);
  return { argsz, flags: v.getUint32(4, true), address: v.getBigUint64(8, true), size: v.getBigUint64(16, true) };
}

// --- DEVICE_GET_INFO / REGION_INFO / IRQ_INFO -----------------------------------------------

export interface DeviceInfoPayload {
  argsz: number;
  flags: number;
  numRegions: number;
  numIrqs: number;
}

export function encodeDeviceInfo(d: DeviceInfoPayload): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt32LE(d.argsz, 0);
  b.writeUInt32LE(d.flags, 4);
  b.writeUInt32LE(d.numRegions, 8);
  b.writeUInt32LE(d.numIrqs, 12);
  return b;
}

export function decodeDeviceInfo(p: Uint8Array): DeviceInfoPayload {
  const v = need(p, 16, 'DEVICE_GET_INFO');
  return { argsz: v.getUint32(0, true), flags: v.getUint32(4, true), numRegions: v.getUint32(8, true), numIrqs: v.getUint32(12, true) };
}

/** Only argsz is meaningful in a DEVICE_GET_INFO request. */
export function decodeArgsz(p: Uint8Array, what: string): number {
  return need(p, 4, what).getUint32(0, true);
}

export interface RegionInfoPayload {
  argsz: number;
  flags: number;
  index: number;
  capOffset: number;
  size: bigint;
  offset: bigint;
  /** Sparse-mmap areas from the capability chain, when present. */
  sparse?: { offset: bigint; size: bigint }[];
}

export function encodeRegionInfoRequest(index: number, argsz = 32): Buffer {
  const b = Buffer.alloc(32);
  b.writeUInt32LE(argsz, 0);
  b.writeUInt32LE(index, 8);
  return b;
}

/** Encode a region-info reply; with sparse areas the capability follows the 32-byte struct. */
export function encodeRegionInfo(r: Omit<RegionInfoPayload, 'argsz' | 'capOffset'>): Buffer {
  const areas = r.sparse ?? [];
  const capSize = areas.length ? 16 + 16 * areas.length : 0;
  const b = Buffer.alloc(32 + capSize);
  b.writeUInt32LE(b.length, 0);
  b.writeUInt32LE(r.flags, 4);
  b.writeUInt32LE(r.index, 8);
  b.writeUInt32LE(areas.length ? 32 : 0, 12);
  b.writeBigUInt64LE(r.size, 16);
  b.writeBigUInt64LE(r.offset, 24);
  if (areas.length) {
    b.writeUInt16LE(REGION_INFO_CAP_SPARSE_MMAP, 32);
    b.writeUInt16LE(1, 34); // version
    b.writeUInt32LE(0, 36); // next
    b.writeUInt32LE(areas.length, 40);
    areas.forEach((a, i) => {
      b.writeBigUInt64LE(a.offset, 48 + 16 * i);
      b.writeBigUInt64LE(a.size, 56 + 16 * i);
    });
  }
  return b;
}

export function decodeRegionInfo(p: Uint8Array): RegionInfoPayload {
  const v = need(p, 32, 'DEVICE_GET_REGION_INFO');
  const r: RegionInfoPayload = {
    argsz: v.getUint32(0, true),
    flags: v.getUint32(4, true),
    index: v.getUint32(8, true),
    capOffset: v.getUint32(12, true),
    size: v.getBigUint64(16, true),
    offset: v.getBigUint64(24, true),
  };
  if (r.capOffset >= 32 && r.capOffset + 16 <= p.length) {
    const id = v.getUint16(r.capOffset, true);
    if (id === REGION_INFO_CAP_SPARSE_MMAP) {
      const n = v.getUint32(r.capOffset + 8, true);
      if (r.capOffset + 16 + 16 * n > p.length) throw new MalformedMessageError('sparse mmap capability truncated');
      r.sparse = Array.from({ length: n }, (_, i) => ({
        offset: v.getBigUint64(r.capOffset + 16 + 16 * i, true),
        size: v.getBigUint64(r.capOffset + 24 + 16 * i, true),
      }));
    }
  }
  return r;
}

export interface IrqInfoPayload {
  argsz: number;
  flags: number;
  index: number;
  count: number;
}

export function encodeIrqInfo(i: IrqInfoPayload): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt32LE(i.argsz, 0);
  b.writeUInt32LE(i.flags, 4);
  b.writeUInt32LE(i.index, 8);
  b.writeUInt32LE(i.count, 12);
  return b;
}

export function decodeIrqInfo(p: Uint8Array): IrqInfoPayload {
  const v = need(p, 16, 'DEVICE_GET_IRQ_INFO');
  return { argsz: v.getUint32(0, true), flags: v.getUint32(4, true), index: v.getUint32(8, true), count: v.getUint32(12, true) };
}

// --- SET_IRQS ----------------------------------------------------------------------------------

export interface SetIrqsPayload {
  argsz: number;
  flags: number;
  index: number;
  start: number;
  count: number;
  /** DATA_BOOL: one byte per vector. */
  data: Uint8Array;
}

export function encodeSetIrqs(s: Omit<SetIrqsPayload, 'argsz' | 'data'> & { data?: Uint8Array }): Buffer {
  const data = s.data ?? EMPTY;
  const b = Buffer.alloc(20 + data.length);
  b.writeUInt32LE(b.length, 0);
  b.writeUInt32LE(s.flags, 4);
  b.writeUInt32LE(s.index, 8);
  b.writeUInt32LE(s.start, 12);
  b.writeUInt32LE(s.count, 16);
  b.set(data, 20);
  return b;
}

export function decodeSetIrqs(p: Uint8Array): SetIrqsPayload {
  const v = need(p, 20, 'DEVICE_SET_IRQS');
  return {
    argsz: v.getUint32(0, true),
    flags: v.getUint32(4, true),
    index: v.getUint32(8, true),
    start: v.getUint32(12, true),
    count: v.getUint32(16, true),
    data: p.subarray(20),
  };
}

// --- REGION_READ / REGION_WRITE / REGION_WRITE_MULTI ------------------------------------------

export interface RegionAccessPayload {
  offset: bigint;
  region: number;
  count: number;
  data: Uint8Array;
}

export function encodeRegionAccess(a: { offset: bigint; region: number; count: number; data?: Uint8Array }): Buffer {
  const data = a.data ?? EMPTY;
  const b = Buffer.allocUnsafe(16 + data.length);
  b.writeBigUInt64LE(a.offset, 0);
  b.writeUInt32LE(a.region, 8);
  b.writeUInt32LE(a.count, 12);
  b.set(data, 16);
  return b;
}

export function decodeRegionAccess(p: Uint8Array, what = 'REGION_READ/WRITE'): RegionAccessPayload {
  const v = need(p, 16, what);
  return { offset: v.getBigUint64(0, true), region: v.getUint32(8, true), count: v.getUint32(12, true), data: p.subarray(16) };
}

export interface WriteMultiEntry {
  offset: bigint;
  region: number;
  data: Uint8Array;
}

export function encodeWriteMulti(entries: WriteMultiEntry[]): Buffer {
  const b = Buffer.alloc(8 + entries.length * (16 + WRITE_MULTI_DATA));
  b.writeBigUInt64LE(BigInt(entries.length), 0);
  entries.forEach((e, i) => {
    const o = 8 + i * (16 + WRITE_MULTI_DATA);
    b.writeBigUInt64LE(e.offset, o);
    b.writeUInt32LE(e.region, o + 8);
    b.writeUInt32LE(e.data.length, o + 12);
    b.set(e.data.subarray(0, WRITE_MULTI_DATA), o + 16);
  });
  return b;
}

export function decodeWriteMulti(p: Uint8Array): WriteMultiEntry[] {
  const v = need(p, 8, 'REGION_WRITE_MULTI');
  const n = Number(v.getBigUint64(0, true));
  if (n > WRITE_MULTI_MAX) throw new MalformedMessageError(`REGION_WRITE_MULTI: ${n} entries > ${WRITE_MULTI_MAX}`);
  need(p, 8 + n * (16 + WRITE_MULTI_DATA), 'REGION_WRITE_MULTI');
  return Array.from({ length: n }, (_, i) => {
    const o = 8 + i * (16 + WRITE_MULTI_DATA);
    const count = v.getUint32(o + 12, true);
    if (count === 0 || count > WRITE_MULTI_DATA) throw new MalformedMessageError(`REGION_WRITE_MULTI: entry ${i} count ${count}`);
    return { offset: v.getBigUint64(o, true), region: v.getUint32(o + 8, true), data: p.subarray(o + 16, o + 16 + count) };
  });
}

// --- DMA_READ / DMA_WRITE (server → client): u64 address, u64 count, data @16 ------------------

export interface DmaAccessPayload {
  address: bigint;
  count: bigint;
  data: Uint8Array;
}

export function encodeDmaAccess(a: { address: bigint; count: bigint; data?: Uint8Array }): Buffer {
  const data = a.data ?? EMPTY;
  const b = Buffer.allocUnsafe(16 + data.length);
  b.writeBigUInt64LE(a.address, 0);
  b.writeBigUInt64LE(a.count, 8);
  b.set(data, 16);
  return b;
}

export function decodeDmaAccess(p: Uint8Array, what = 'DMA_READ/WRITE'): DmaAccessPayload {
  const v = need(p, 16, what);
  return { address: v.getBigUint64(0, true), count: v.getBigUint64(8, true), data: p.subarray(16) };
}
