/**
 * Atomic write limits (NVMe 2.0 base §2.1.4 "Atomic Operations"; Identify Controller AWUN/AWUPF,
 * Identify Namespace NSFEAT bit 1, NAWUN, NAWUPF, NACWU, NABSN, NABO, NABSPF). Options count
 * logical blocks from 1; Identify reports the unit sizes 0's based.
 */

/** Controller-wide atomic write units (Identify Controller AWUN, AWUPF), logical blocks of each namespace. */
export interface ControllerAtomicWriteOptions {
  /** AWUN: writes of up to this many blocks never interleave with other commands; default 1. */
  normalBlocks?: number;
  /** AWUPF: writes of up to this many blocks are all old or all new after a power failure; default 1, ≤ normalBlocks. */
  powerFailBlocks?: number;
}

/**
 * Namespace atomic write limits: sets NSFEAT bit 1 (NSABP), so they replace the controller's AWUN /
 * AWUPF for this namespace. Boundaries split the namespace into aligned pieces: a write crossing one
 * is not guaranteed atomic. Linux uses NAWUPF and NABSPF, and turns atomic writes off when NABO ≠ 0.
 */
export interface NamespaceAtomicWriteOptions {
  /** NAWUPF: writes of up to this many blocks are all old or all new across a power failure (1–65536). */
  powerFailBlocks: number;
  /** NAWUN: writes of up to this many blocks never interleave with other commands; default powerFailBlocks. */
  normalBlocks?: number;
  /** NABSPF: atomic boundary size for `powerFailBlocks`, blocks (2–65536, ≥ powerFailBlocks); default none. */
  powerFailBoundaryBlocks?: number;
  /** NABSN: atomic boundary size for `normalBlocks`, blocks (2–65536, ≥ normalBlocks); default powerFailBoundaryBlocks. */
  normalBoundaryBlocks?: number;
  /** NABO: LBA of the first boundary (< every boundary size); default 0. */
  boundaryOffsetBlocks?: number;
}

/** Resolved limits of one namespace, in logical blocks (boundary 0 = none). */
export interface AtomicLimits {
  /** NSFEAT bit 1: the namespace reports its own limits. */
  readonly namespaceLimits: boolean;
  /** AWUN / NAWUN + 1. */
  readonly normalBlocks: number;
  /** AWUPF / NAWUPF + 1. */
  readonly powerFailBlocks: number;
  /** NABSN + 1, or 0 for no boundary. */
  readonly normalBoundaryBlocks: number;
  /** NABSPF + 1, or 0 for no boundary. */
  readonly powerFailBoundaryBlocks: number;
  /** NABO. */
  readonly boundaryOffsetBlocks: number;
}

/** The largest value of the 16-bit, 0's based unit fields. */
const MAX_UNIT_BLOCKS = 0x10000;

function check(ok: boolean, message: string): void {
  if (!ok) throw new RangeError(`atomic write limits: ${message}`);
}

function blocks(value: number | undefined, fallback: number, name: string): number {
  const v = value ?? fallback;
  check(Number.isInteger(v) && v >= 1 && v <= MAX_UNIT_BLOCKS, `${name} must be an integer in 1..65536 (got ${v})`);
  return v;
}

function boundary(value: number | undefined, unit: number, name: string): number {
  if (value === undefined || value === 0) return 0;
  // 0h in NABSN/NABSPF means "no boundary", so the smallest expressible boundary is 2 blocks.
  check(Number.isInteger(value) && value >= 2 && value <= MAX_UNIT_BLOCKS, `${name} must be 0 or an integer in 2..65536 (got ${value})`);
  check(value >= unit, `${name} (${value}) must not be smaller than its atomic unit (${unit})`);
  return value;
}

/** Validates the controller options (AWUPF ≤ AWUN, both 1..65536). */
export function resolveControllerAtomicity(o: ControllerAtomicWriteOptions | undefined): { normalBlocks: number; powerFailBlocks: number } {
  const normalBlocks = blocks(o?.normalBlocks, o?.powerFailBlocks ?? 1, 'atomicWrite.normalBlocks');
  const powerFailBlocks = blocks(o?.powerFailBlocks, 1, 'atomicWrite.powerFailBlocks');
  check(powerFailBlocks <= normalBlocks, `atomicWrite.powerFailBlocks (${powerFailBlocks}) must not exceed normalBlocks (${normalBlocks})`);
  return { normalBlocks, powerFailBlocks };
}

/** The limits a namespace honours: its own when given (NSABP), the controller's otherwise. */
export function resolveAtomicLimits(
  ns: NamespaceAtomicWriteOptions | undefined,
  controller: { normalBlocks: number; powerFailBlocks: number },
): AtomicLimits {
  if (!ns) {
    return { namespaceLimits: false, ...controller, normalBoundaryBlocks: 0, powerFailBoundaryBlocks: 0, boundaryOffsetBlocks: 0 };
  }
  const powerFailBlocks = blocks(ns.powerFailBlocks, 1, 'powerFailBlocks');
  const normalBlocks = blocks(ns.normalBlocks, powerFailBlocks, 'normalBlocks');
  check(powerFailBlocks <= normalBlocks, `powerFailBlocks (${powerFailBlocks}) must not exceed normalBlocks (${normalBlocks})`);
  const powerFailBoundaryBlocks = boundary(ns.powerFailBoundaryBlocks, powerFailBlocks, 'powerFailBoundaryBlocks');
  const normalBoundaryBlocks = boundary(ns.normalBoundaryBlocks ?? powerFailBoundaryBlocks, normalBlocks, 'normalBoundaryBlocks');
  const boundaryOffsetBlocks = ns.boundaryOffsetBlocks ?? 0;
  check(Number.isInteger(boundaryOffsetBlocks) && boundaryOffsetBlocks >= 0, 'boundaryOffsetBlocks must be a non-negative integer');
  for (const b of [powerFailBoundaryBlocks, normalBoundaryBlocks]) {
    check(b === 0 || boundaryOffsetBlocks < b, `boundaryOffsetBlocks (${boundaryOffsetBlocks}) must be smaller than each boundary size`);
  }
  check(
    boundaryOffsetBlocks === 0 || powerFailBoundaryBlocks > 0 || normalBoundaryBlocks > 0,
    'boundaryOffsetBlocks needs a boundary size',
  );
  return { namespaceLimits: true, normalBlocks, powerFailBlocks, normalBoundaryBlocks, powerFailBoundaryBlocks, boundaryOffsetBlocks };
}

/** Whether [slba, slba + count) stays within one piece between atomic boundaries of `size` blocks. */
function insideBoundaries(slba: bigint, count: number, size: number, offset: number): boolean {
  if (size === 0) return true;
  const s = BigInt(size);
  const floorDiv = (n: bigint) => (n >= 0n ? n / s : -((-n + s - 1n) / s));
  const base = BigInt(offset);
  return floorDiv(slba - base) === floorDiv(slba + BigInt(count) - 1n - base);
}

/** A write the namespace must make all-or-nothing across a power failure (≤ the unit, no boundary crossed). */
export function isPowerFailAtomic(limits: AtomicLimits, slba: bigint, count: number): boolean {
  return count <= limits.powerFailBlocks && insideBoundaries(slba, count, limits.powerFailBoundaryBlocks, limits.boundaryOffsetBlocks);
}
