/**
 * Dword access to memory another CPU updates at the same time (guest RAM a vCPU writes, a CQ slot
 * the guest polls). A little-endian value read or written byte by byte can tear: a shadow SQ tail
 * read as its old low byte and its new high byte was 256 entries ahead of the real tail, and the
 * controller ran a lap of stale commands. One aligned 32-bit access cannot tear (x86 and arm64
 * make it single-copy atomic), and JavaScript only promises a single access through `Atomics`.
 */

/** A Uint32Array element is native-endian: only on a little-endian host is it the guest's dword. */
const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Whole-buffer dword views, one per backing buffer (guest mappings live as long as their window). */
const dwordViews = new WeakMap<ArrayBufferLike, Uint32Array>();
/** The last buffer used and its view (kept reachable): a CQE is four stores to one buffer, a WeakMap lookup each is measurable. */
let lastBuffer: ArrayBufferLike | undefined;
let lastWords: Uint32Array | undefined;

/** The dword index of `view[offset]` in a Uint32Array over the same buffer, or undefined when unaligned. */
function dwordAt(view: Uint8Array, offset: number): { words: Uint32Array; index: number } | undefined {
  const at = view.byteOffset + offset;
  if ((at & 3) !== 0 || !littleEndian) return undefined;
  const buffer = view.buffer;
  let words = buffer === lastBuffer ? lastWords : dwordViews.get(buffer);
  if (!words) {
    words = new Uint32Array(buffer, 0, buffer.byteLength >>> 2);
    dwordViews.set(buffer, words);
  }
  lastBuffer = buffer;
  lastWords = words;
  const index = at >>> 2;
  return index < words.length ? { words, index } : undefined;
}

/**
 * Reads the little-endian dword at `view[offset]` in one 32-bit load when it is 4-byte aligned in
 * its buffer (byte by byte otherwise, and on a big-endian host: then it can tear).
 */
export function loadDword(view: Uint8Array, offset: number): number {
  if (offset < 0 || offset + 4 > view.byteLength) throw new RangeError(`dword at ${offset} outside ${view.byteLength} bytes`);
  const d = dwordAt(view, offset);
  if (d) return Atomics.load(d.words, d.index);
  return (
    ((view[offset] as number) |
      ((view[offset + 1] as number) << 8) |
      ((view[offset + 2] as number) << 16) |
      ((view[offset + 3] as number) << 24)) >>>
    0
  );
}

/** Writes `value` as a little-endian dword at `view[offset]` in one 32-bit store when aligned (see {@link loadDword}). */
export function storeDword(view: Uint8Array, offset: number, value: number): void {
  if (offset < 0 || offset + 4 > view.byteLength) throw new RangeError(`dword at ${offset} outside ${view.byteLength} bytes`);
  const d = dwordAt(view, offset);
  if (d) {
    Atomics.store(d.words, d.index, value >>> 0);
    return;
  }
  view[offset] = value;
  view[offset + 1] = value >>> 8;
  view[offset + 2] = value >>> 16;
  view[offset + 3] = value >>> 24;
}
