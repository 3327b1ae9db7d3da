/**
 * Serialises overlapping writes to one namespace (AWUN / NAWUN: a write within the normal atomic
 * unit never interleaves with another command's data). Writes to disjoint ranges run concurrently;
 * a write overlapping one in flight waits for it to finish.
 */
interface Held {
  first: bigint;
  last: bigint;
  /** Writes waiting for this one (allocated only when one waits: the common case has none). */
  waiters?: (() => void)[];
}

export class RangeLock {
  private readonly held: Held[] = [];

  /** Number of ranges held right now. */
  get size(): number {
    return this.held.length;
  }

  /** Whether a held range overlaps [first, first + count). */
  overlaps(first: bigint, count: number): boolean {
    return this.conflict(first, first + BigInt(count) - 1n) !== undefined;
  }

  /** Holds [first, first + count) now (the caller checked {@link RangeLock.overlaps}); returns the release. */
  hold(first: bigint, count: number): () => void {
    const entry: Held = { first, last: first + BigInt(count) - 1n };
    this.held.push(entry);
    return () => {
      const i = this.held.indexOf(entry);
      if (i >= 0) this.held.splice(i, 1);
      for (const wake of entry.waiters ?? []) wake();
    };
  }

  /** Holds [first, first + count) once no overlapping range is held; returns the release. */
  async acquire(first: bigint, count: number): Promise<() => void> {
    const last = first + BigInt(count) - 1n;
    for (let c = this.conflict(first, last); c; c = this.conflict(first, last)) {
      const held = c;
      await new Promise<void>((resolve) => {
        held.waiters ??= [];
        held.waiters.push(resolve);
      });
    }
    return this.hold(first, count);
  }

  private conflict(first: bigint, last: bigint): Held | undefined {
    return this.held.find((h) => h.first <= last && first <= h.last);
  }
}
