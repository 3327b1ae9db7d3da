/**
 * A small seeded PRNG (xoshiro128** seeded by splitmix32) for the fuzzers: the same seed gives the
 * same sequence of steps, so a failure prints a seed and a step that reproduce it.
 */
export class Prng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(readonly seed: number) {
    // splitmix32 seeding of xoshiro128**
    let x = seed >>> 0;
    const next = () => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#a = next() || 1;
    this.#b = next();
    this.#c = next();
    this.#d = next();
  }

  /** 32 random bits as an unsigned number (xoshiro128**). */
  u32(): number {
    const r = Math.imul(rotl(Math.imul(this.#b, 5), 7), 9) >>> 0;
    const t = this.#b << 9;
    this.#c ^= this.#a;
    this.#d ^= this.#b;
    this.#b ^= this.#c;
    this.#a ^= this.#d;
    this.#c ^= t;
    this.#d = rotl(this.#d, 11);
    return r;
  }

  /** 64 random bits. */
  u64(): bigint {
    return (BigInt(this.u32()) << 32n) | BigInt(this.u32());
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.u32() / 0x1_0000_0000) * n);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.u32() / 0x1_0000_0000 < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }

  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff;
    return b;
  }

  /** An "interesting" unsigned value of `bits` bits: edges, powers of two ± 1, ≥ 4 GiB values, or random. */
  interesting(bits: 8 | 16 | 32 | 64): bigint {
    const max = (1n << BigInt(bits)) - 1n;
    const k = this.int(8);
    let v: bigint;
    if (k === 0) v = this.pick([0n, 1n, 2n, 4n, 8n, 16n, 0x1000n, 0xfffn, 0x10000n]);
    else if (k === 1) v = max - BigInt(this.int(16));
    else if (k === 2) v = (1n << BigInt(this.int(bits))) + BigInt(this.int(3)) - 1n;
    else if (k === 3 && bits === 64) v = this.pick([1n << 32n, (1n << 32n) - 1n, 16n << 30n, 1n << 63n, (1n << 48n) - 4096n]);
    else if (k === 4) v = BigInt(this.int(4096));
    else v = this.u64();
    return BigInt.asUintN(bits, v);
  }
}

/** Parses `--steps N --seed N` (and any `--name value` pairs) from a script's argv. */
export function parseArgs(argv: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a.startsWith('--')) {
      const next = argv[i + 1];
      if (next !== undefined && !next.startsWith('--')) {
        out[a.slice(2)] = next;
        i++;
      } else out[a.slice(2)] = 'true';
    }
  }
  return out;
}

const rotl = (x: number, k: number): number => ((x << k) | (x >>> (32 - k))) >>> 0;
