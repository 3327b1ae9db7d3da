import { pushSegment, type Segment, type SegmentWalk, type WalkSteps } from './segments.ts';
import { Status } from './status.ts';

/** SGL descriptor types (NVMe 2.0 §4.3.2, Figure 119). */
export const SglType = { DataBlock: 0x0, BitBucket: 0x1, Segment: 0x2, LastSegment: 0x3 } as const;

/** Safety limit against looping descriptor chains. */
const MAX_DESCRIPTORS = 16384;

interface Descriptor {
  address: bigint;
  length: number;
  type: number;
  subtype: number;
}

/** Bytes in one SGL descriptor. */
const DESCRIPTOR_BYTES = 16;
/** Byte offsets of the descriptor fields (Figure 117): address, length, SGL identifier (type 7:4, subtype 3:0). */
const DescriptorField = { address: 0, length: 8, identifier: 15 } as const;

function decode(bytes: Uint8Array, offset: number): Descriptor {
  const v = new DataView(bytes.buffer, bytes.byteOffset + offset, DESCRIPTOR_BYTES);
  const id = v.getUint8(DescriptorField.identifier);
  return {
    address: v.getBigUint64(DescriptorField.address, true),
    length: v.getUint32(DescriptorField.length, true),
    type: id >>> 4,
    subtype: id & 0xf,
  };
}

/** Encodes one 16-byte SGL descriptor with the layout the walk decodes (host side: a test driver). */
export function encodeSglDescriptor(address: bigint, length: number, type: number, subtype = 0): Uint8Array {
  const b = new Uint8Array(DESCRIPTOR_BYTES);
  const v = new DataView(b.buffer);
  v.setBigUint64(DescriptorField.address, address, true);
  v.setUint32(DescriptorField.length, length >>> 0, true);
  v.setUint8(DescriptorField.identifier, ((type & 0xf) << 4) | (subtype & 0xf));
  return b;
}

/**
 * Walks the SGL starting at SGL1 (the 16-byte DPTR) for `length` bytes.
 * `toHost` is true for controller→host transfers, the only direction where Bit Bucket is allowed.
 * Descriptors beyond the transfer length are ignored; fewer bytes described is Data SGL Length Invalid.
 * Yields each segment list it reads (see {@link WalkSteps}).
 */
export function* walkSgl(sgl1: Uint8Array, length: number, toHost: boolean): WalkSteps {
  const segments: Segment[] = [];
  let collected = 0;
  let seen = 0;
  const fail = (status: number, message: string): SegmentWalk => ({ ok: false, status, message });

  /** Consumes a data-carrying descriptor; returns an error walk or undefined. */
  const take = (d: Descriptor): SegmentWalk | undefined => {
    if (d.subtype !== 0) return fail(Status.SglDescriptorTypeInvalid, `descriptor subtype ${d.subtype} (only address)`);
    if (d.type === SglType.BitBucket && !toHost) return fail(Status.SglDescriptorTypeInvalid, 'bit bucket on a host→controller transfer');
    const n = Math.min(d.length, length - collected);
    if (d.type === SglType.BitBucket) pushSegment(segments, { address: 0n, length: n, bitBucket: true });
    else pushSegment(segments, { address: d.address, length: n });
    collected += n;
    return undefined;
  };

  let current = decode(sgl1, 0);
  let inLastSegment = false;
  for (;;) {
    if (collected >= length) break;
    if (current.type === SglType.DataBlock || current.type === SglType.BitBucket) {
      // A data descriptor in DPTR or as the tail of the walk: the list ends here.
      const err = take(current);
      if (err) return err;
      break;
    }
    if (current.type !== SglType.Segment && current.type !== SglType.LastSegment) {
      return fail(Status.SglDescriptorTypeInvalid, `descriptor type ${current.type}`);
    }
    if (inLastSegment) return fail(Status.InvalidSglSegmentDescriptor, 'segment descriptor inside the last segment');
    if (current.subtype !== 0) return fail(Status.SglDescriptorTypeInvalid, `segment subtype ${current.subtype}`);
    if (current.length === 0 || current.length % DESCRIPTOR_BYTES !== 0) {
      return fail(Status.InvalidSglSegmentDescriptor, `segment length ${current.length} not a non-zero multiple of 16`);
    }
    const count = current.length / DESCRIPTOR_BYTES;
    seen += count;
    if (seen > MAX_DESCRIPTORS) return fail(Status.InvalidSglDescriptorCount, 'too many SGL descriptors');
    inLastSegment = current.type === SglType.LastSegment;
    const raw = yield { address: current.address, length: current.length };
    let next: Descriptor | undefined;
    for (let i = 0; i < count; i++) {
      const d = decode(raw, i * DESCRIPTOR_BYTES);
      if (d.type === SglType.Segment || d.type === SglType.LastSegment) {
        if (i !== count - 1) return fail(Status.InvalidSglSegmentDescriptor, 'segment descriptor not last in its segment');
        if (inLastSegment) return fail(Status.InvalidSglSegmentDescriptor, 'segment descriptor inside the last segment');
        next = d;
        break;
      }
      if (d.type !== SglType.DataBlock && d.type !== SglType.BitBucket) {
        return fail(Status.SglDescriptorTypeInvalid, `descriptor type ${d.type}`);
      }
      if (collected < length) {
        const err = take(d);
        if (err) return err;
      }
    }
    if (!next) break;
    current = next;
  }
  if (collected < length) return fail(Status.DataSglLengthInvalid, `SGL describes ${collected} of ${length} bytes`);
  return { ok: true, segments };
}
