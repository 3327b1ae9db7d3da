/** Size helpers for descriptions and tests. */

/** `n` KiB as a bigint. */
export function kib(n: number): bigint {
  return BigInt(n) * 1024n;
}

/** `n` MiB as a bigint. */
export function mib(n: number): bigint {
  return BigInt(n) * 1024n * 1024n;
}

/** `n` GiB as a bigint. */
export function gib(n: number): bigint {
  return BigInt(n) * 1024n * 1024n * 1024n;
}

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
