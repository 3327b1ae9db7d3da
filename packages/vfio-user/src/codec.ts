/**
 * Encoders and decoders for every vfio-user message p2pkit handles. The layouts are declared once in
 * codec/messages.ts; both directions are derived from them by codec/layout.ts. Offsets are relative
 * to the payload (absolute offset − 16). Decoders validate sizes and throw MalformedMessageError.
 */
import { decodeArray, decodeFields, encodeArrayInto, encodeFields, encodeInto, encodeJson, type Fields } from './codec/layout.ts';
import {
  ARGSZ,
  DEVICE_INFO,
  DMA_ACCESS,
  DMA_MAP,
  DMA_UNMAP,
  HEADER,
  IRQ_INFO,
  REGION_ACCESS,
  REGION_INFO,
  SET_IRQS,
  SPARSE_MMAP_AREA,
  SPARSE_MMAP_CAP,
  VERSION,
  WRITE_MULTI,
  WRITE_MULTI_ENTRY,
} from './codec/messages.ts';
import { MalformedMessageError } from './errors.ts';
import { HeaderFlags, REGION_INFO_CAP_SPARSE_MMAP, WRITE_MULTI_DATA, WRITE_MULTI_MAX } from './protocol.ts';

/** `size` is the whole message size, header included. */
export type Header = Fields<typeof HEADER>;

/** One framed message: header, payload (bytes after the header) and received fds. */
export interface Message {
  header: Header;
  payload: Buffer;
  fds: number[];
}

export const isReply = (h: Header): boolean => (h.flags & HeaderFlags.TYPE_MASK) === HeaderFlags.TYPE_REPLY;
export const wantsReply = (h: Header): boolean => (h.flags & HeaderFlags.NO_REPLY) === 0;

export const decodeHeader = (b: Uint8Array): Header => decodeFields(HEADER, b);

/** Build a whole message (header + payload). */
export const encodeMessage = (h: Omit<Header, 'size'>, payload?: Uint8Array): Buffer => encodeFields(HEADER, h, payload);

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

// --- VERSION ---------------------------------------------------------------------------------

export type VersionPayload = Fields<typeof VERSION> & { capabilities: Record<string, unknown> };

export const encodeVersion = (v: VersionPayload): Buffer => encodeFields(VERSION, v, encodeJson({ capabilities: v.capabilities }));

export function decodeVersion(p: Uint8Array): VersionPayload {
  const { major, minor, json } = decodeFields(VERSION, p);
  if (json === undefined) return { major, minor, capabilities: {} };
  if (typeof json !== 'object' || json === null) throw new MalformedMessageError('VERSION: capabilities not an object');
  const caps = (json as { capabilities?: unknown }).capabilities;
  if (caps !== undefined && (typeof caps !== 'object' || caps === null)) {
    throw new MalformedMessageError('VERSION: "capabilities" is not an object');
  }
  return { major, minor, capabilities: (caps ?? {}) as Record<string, unknown> };
}

// --- DMA_MAP / DMA_UNMAP ---------------------------------------------------------------------

export type DmaMapPayload = Fields<typeof DMA_MAP>;
export const encodeDmaMap = (m: Omit<DmaMapPayload, 'argsz'>): Buffer => encodeFields(DMA_MAP, m);
export const decodeDmaMap = (p: Uint8Array): DmaMapPayload => decodeFields(DMA_MAP, p);

export type DmaUnmapPayload = Fields<typeof DMA_UNMAP>;
export const encodeDmaUnmap = (m: Omit<DmaUnmapPayload, 'argsz'>): Buffer => encodeFields(DMA_UNMAP, m);
export const decodeDmaUnmap = (p: Uint8Array): DmaUnmapPayload => decodeFields(DMA_UNMAP, p);

// --- DEVICE_GET_INFO / REGION_INFO / IRQ_INFO -----------------------------------------------

export type DeviceInfoPayload = Fields<typeof DEVICE_INFO>;
export const encodeDeviceInfo = (d: DeviceInfoPayload): Buffer => encodeFields(DEVICE_INFO, d);
export const decodeDeviceInfo = (p: Uint8Array): DeviceInfoPayload => decodeFields(DEVICE_INFO, p);

/** Only argsz is meaningful in a DEVICE_GET_INFO request. */
export const decodeArgsz = (p: Uint8Array, what: string): number => decodeFields(ARGSZ, p, what).argsz;

export type RegionInfoPayload = Fields<typeof REGION_INFO> & {
  /** Sparse-mmap areas from the capability chain, when present. */
  sparse?: Fields<typeof SPARSE_MMAP_AREA>[];
};

export const encodeRegionInfoRequest = (index: number, argsz = 32): Buffer =>
  encodeFields(REGION_INFO, { argsz, flags: 0, index, capOffset: 0, size: 0n, offset: 0n });

/** Encode a region-info reply; with sparse areas the capability follows the fixed struct. */
export function encodeRegionInfo(r: Omit<RegionInfoPayload, 'argsz' | 'capOffset'>): Buffer {
  const areas = r.sparse ?? [];
  const capSize = areas.length ? SPARSE_MMAP_CAP.size + SPARSE_MMAP_AREA.size * areas.length : 0;
  const capOffset = areas.length ? REGION_INFO.size : 0;
  const b = encodeFields(
    REGION_INFO,
    { argsz: REGION_INFO.size + capSize, flags: r.flags, index: r.index, capOffset, size: r.size, offset: r.offset },
    capSize,
  );
  if (areas.length) {
    encodeInto(SPARSE_MMAP_CAP, { id: REGION_INFO_CAP_SPARSE_MMAP, version: 1, next: 0, count: areas.length }, b, REGION_INFO.size);
    encodeArrayInto(SPARSE_MMAP_AREA, areas, b, REGION_INFO.size + SPARSE_MMAP_CAP.size);
  }
  return b;
}

export function decodeRegionInfo(p: Uint8Array): RegionInfoPayload {
  const r: RegionInfoPayload = decodeFields(REGION_INFO, p);
  // A capability header outside the payload is ignored (as before); areas beyond it are malformed.
  if (r.capOffset >= REGION_INFO.size && r.capOffset + SPARSE_MMAP_CAP.size <= p.length) {
    const cap = decodeFields(SPARSE_MMAP_CAP, p, SPARSE_MMAP_CAP.name, r.capOffset);
    if (cap.id === REGION_INFO_CAP_SPARSE_MMAP) {
      r.sparse = decodeArray(SPARSE_MMAP_AREA, p, r.capOffset + SPARSE_MMAP_CAP.size, cap.count, SPARSE_MMAP_CAP.name);
    }
  }
  return r;
}

export type IrqInfoPayload = Fields<typeof IRQ_INFO>;
export const encodeIrqInfo = (i: IrqInfoPayload): Buffer => encodeFields(IRQ_INFO, i);
export const decodeIrqInfo = (p: Uint8Array): IrqInfoPayload => decodeFields(IRQ_INFO, p);

// --- SET_IRQS ----------------------------------------------------------------------------------

/** `data`: with DATA_BOOL, one byte per vector. */
export type SetIrqsPayload = Fields<typeof SET_IRQS> & { data: Uint8Array };
export const encodeSetIrqs = (s: Omit<SetIrqsPayload, 'argsz' | 'data'> & { data?: Uint8Array }): Buffer =>
  encodeFields(SET_IRQS, s, s.data);
export const decodeSetIrqs = (p: Uint8Array): SetIrqsPayload => decodeFields(SET_IRQS, p);

// --- REGION_READ / REGION_WRITE / REGION_WRITE_MULTI ------------------------------------------

export type RegionAccessPayload = Fields<typeof REGION_ACCESS> & { data: Uint8Array };

export const encodeRegionAccess = (a: { offset: bigint; region: number; count: number; data?: Uint8Array }): Buffer =>
  encodeFields(REGION_ACCESS, a, a.data);

export const decodeRegionAccess = (p: Uint8Array, what = REGION_ACCESS.name): RegionAccessPayload => decodeFields(REGION_ACCESS, p, what);

export interface WriteMultiEntry {
  offset: bigint;
  region: number;
  data: Uint8Array;
}

/** Entries carry at most WRITE_MULTI_DATA bytes inline; `count` says how many are used. */
export function encodeWriteMulti(entries: WriteMultiEntry[]): Buffer {
  const b = encodeFields(WRITE_MULTI, { count: BigInt(entries.length) }, entries.length * WRITE_MULTI_ENTRY.size);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    encodeInto(
      WRITE_MULTI_ENTRY,
      { offset: e.offset, region: e.region, count: e.data.length, data: e.data },
      b,
      WRITE_MULTI.size + i * WRITE_MULTI_ENTRY.size,
    );
  }
  return b;
}

export function decodeWriteMulti(p: Uint8Array): WriteMultiEntry[] {
  const n = Number(decodeFields(WRITE_MULTI, p).count);
  // Checked before the bounds check so a huge count cannot size anything.
  if (n > WRITE_MULTI_MAX) throw new MalformedMessageError(`REGION_WRITE_MULTI: ${n} entries > ${WRITE_MULTI_MAX}`);
  return decodeArray(WRITE_MULTI_ENTRY, p, WRITE_MULTI.size, n).map((e, i) => {
    if (e.count === 0 || e.count > WRITE_MULTI_DATA) throw new MalformedMessageError(`REGION_WRITE_MULTI: entry ${i} count ${e.count}`);
    return { offset: e.offset, region: e.region, data: e.data.subarray(0, e.count) };
  });
}

// --- DMA_READ / DMA_WRITE (server → client) ----------------------------------------------------

export type DmaAccessPayload = Fields<typeof DMA_ACCESS> & { data: Uint8Array };

export const encodeDmaAccess = (a: { address: bigint; count: bigint; data?: Uint8Array }): Buffer => encodeFields(DMA_ACCESS, a, a.data);

export const decodeDmaAccess = (p: Uint8Array, what = DMA_ACCESS.name): DmaAccessPayload => decodeFields(DMA_ACCESS, p, what);
