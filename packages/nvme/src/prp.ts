import { pushSegment, type Segment, type SegmentWalk, type WalkSteps } from './segments.ts';
import { Status } from './status.ts';

/**
 * Walks PRP1/PRP2 and PRP lists for a transfer of `length` bytes (NVMe 2.0 §4.3.1).
 * Rules: PRP1 dword aligned with any page offset; every other data entry page aligned;
 * a list pointer qword aligned; a list's last entry chains to the next page-aligned list.
 * Yields each PRP list it reads (see {@link WalkSteps}).
 */
export function* walkPrp(prp1: bigint, prp2: bigint, length: number, pageSize: number): WalkSteps {
  const segments: Segment[] = [];
  if (length === 0) return { ok: true, segments };
  const ps = BigInt(pageSize);
  const fail = (message: string): SegmentWalk => ({ ok: false, status: Status.PrpOffsetInvalid, message });
  if ((prp1 & 3n) !== 0n) return fail(`PRP1 ${hex(prp1)} not dword aligned`);
  const first = Math.min(length, pageSize - Number(prp1 % ps));
  pushSegment(segments, { address: prp1, length: first });
  let remaining = length - first;
  if (remaining === 0) return { ok: true, segments };
  if (remaining <= pageSize) {
    if (prp2 % ps !== 0n) return fail(`PRP2 ${hex(prp2)} has a page offset`);
    pushSegment(segments, { address: prp2, length: remaining });
    return { ok: true, segments };
  }
  if ((prp2 & 7n) !== 0n) return fail(`PRP list pointer ${hex(prp2)} not qword aligned`);
  let list = prp2;
  let needed = Math.ceil(remaining / pageSize);
  while (needed > 0) {
    const slots = Number((ps - (list % ps)) / 8n);
    const chained = needed > slots;
    const count = chained ? slots : needed;
    const raw = yield { address: list, length: count * 8 };
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const dataEntries = chained ? count - 1 : count;
    // Entries are read as two dwords: a page-aligned low dword, and addresses below 2^53 kept as
    // numbers while merging contiguous pages, so a 32-page list costs one BigInt per segment
    // instead of several per entry.
    let last = segments[segments.length - 1];
    let lastEnd = last && !last.bitBucket && last.address < SAFE_ADDRESS ? Number(last.address) + last.length : -1;
    for (let i = 0; i < dataEntries; i++) {
      const lo = view.getUint32(i * 8, true);
      const hi = view.getUint32(i * 8 + 4, true);
      if (lo % pageSize !== 0) return fail(`PRP entry ${hex((BigInt(hi) << 32n) | BigInt(lo))} has a page offset`);
      const n = Math.min(pageSize, remaining);
      remaining -= n;
      if (hi >= SAFE_HIGH_DWORD) {
        // At or above 2^53: BigInt arithmetic (pushSegment merges), as exact as below.
        pushSegment(segments, { address: (BigInt(hi) << 32n) | BigInt(lo), length: n });
        last = segments[segments.length - 1];
        lastEnd = -1;
        continue;
      }
      const at = hi * 2 ** 32 + lo;
      if (last && at === lastEnd) {
        last.length += n;
        lastEnd += n;
        continue;
      }
      last = { address: BigInt(at), length: n };
      segments.push(last);
      lastEnd = at + n;
    }
    needed -= dataEntries;
    if (chained) {
      list = view.getBigUint64((count - 1) * 8, true);
      if (list % ps !== 0n) return fail(`chained PRP list ${hex(list)} not page aligned`);
    }
  }
  return { ok: true, segments };
}

/** Addresses below 2^53 are exact as numbers: high dwords below 2^21. */
const SAFE_HIGH_DWORD = 2 ** 21;
const SAFE_ADDRESS = 2n ** 53n;

function hex(v: bigint): string {
  return `0x${v.toString(16)}`;
}
