/** Size helpers for BAR and memory declarations. */

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

/** Hexadecimal formatting for messages. */
export const hex = (n: number | bigint): string => `0x${n.toString(16)}`;
