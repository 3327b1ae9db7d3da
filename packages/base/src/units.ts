/**
 * Sizes and formatting. One convention across p2pkit: sizes and lengths are `number` bytes (safe up
 * to 2^53), bus addresses are `bigint`.
 */

/** `n` KiB in bytes. */
export const kib = (n: number): number => n * 1024;
/** `n` MiB in bytes. */
export const mib = (n: number): number => n * 1024 * 1024;
/** `n` GiB in bytes. */
export const gib = (n: number): number => n * 1024 * 1024 * 1024;

/** Whether `n` is a positive power of two (safe for values above 2^32). */
export function isPowerOfTwo(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && 2 ** Math.round(Math.log2(n)) === n;
}

/** Hexadecimal formatting for messages: `0x1000`. */
export const hex = (n: number | bigint): string => `0x${n.toString(16)}`;

/** Human bytes: `64.0 MiB`, `512 B`. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
}
