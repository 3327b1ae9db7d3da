/**
 * Interrupt delivery policy: INTMS/INTMC masks (§3.1.4.3–4), Interrupt Coalescing (Feature 08h)
 * and per-vector Coalescing Disable (Feature 09h). The admin vector 0 is never coalesced (§5.27.1.8).
 */
export class InterruptController {
  private mask = 0;
  /** Aggregation threshold (0-based) and time in 100 µs units. */
  private threshold = 0;
  private time = 0;
  private readonly coalescingDisabled = new Set<number>();
  private readonly counts = new Map<number, number>();
  /** Pending Aggregation Time expiries, by vector: their cancel functions. */
  private readonly timers = new Map<number, () => void>();
  private readonly maskedPending = new Set<number>();

  constructor(
    private readonly raise: (vector: number) => void,
    private readonly vectors: number,
  ) {}

  get interruptMask(): number {
    return this.mask >>> 0;
  }

  setMask(bits: number): void {
    this.mask = (this.mask | bits) >>> 0;
  }

  /** Clears mask bits; vectors that fired while masked are raised now. */
  clearMask(bits: number): void {
    this.mask = (this.mask & ~bits) >>> 0;
    for (const v of [...this.maskedPending]) {
      if (!this.isMasked(v)) {
        this.maskedPending.delete(v);
        this.raise(v);
      }
    }
  }

  get coalescing(): { threshold: number; time: number } {
    return { threshold: this.threshold, time: this.time };
  }

  setCoalescing(threshold: number, time: number): void {
    this.threshold = threshold & 0xff;
    this.time = time & 0xff;
  }

  isCoalescingDisabled(vector: number): boolean {
    return this.coalescingDisabled.has(vector);
  }

  setCoalescingDisabled(vector: number, disabled: boolean): void {
    if (disabled) this.coalescingDisabled.add(vector);
    else this.coalescingDisabled.delete(vector);
  }

  validVector(vector: number): boolean {
    return vector >= 0 && vector < this.vectors;
  }

  private isMasked(vector: number): boolean {
    return vector < 32 && ((this.mask >>> vector) & 1) === 1;
  }

  /**
   * `completions` entries were posted to a CQ using `vector`. THR counts entries, not postings; TIME
   * bounds how long the first unsignalled entry may wait. Either field 0 disables coalescing.
   */
  notify(vector: number, completions = 1): void {
    const coalesce = vector !== 0 && !this.coalescingDisabled.has(vector) && this.threshold !== 0 && this.time !== 0;
    if (!coalesce) {
      this.fire(vector);
      return;
    }
    const n = (this.counts.get(vector) ?? 0) + completions;
    if (n > this.threshold) {
      this.fire(vector);
      return;
    }
    this.counts.set(vector, n);
    if (!this.timers.has(vector))
      this.timers.set(
        vector,
        afterAggregationTime(this.time, () => this.fire(vector)),
      );
  }

  private fire(vector: number): void {
    this.counts.delete(vector);
    const cancel = this.timers.get(vector);
    if (cancel) {
      cancel();
      this.timers.delete(vector);
    }
    if (this.isMasked(vector)) {
      this.maskedPending.add(vector);
      return;
    }
    this.raise(vector);
  }

  /** Controller reset: masks, coalescing state and timers back to defaults. */
  reset(): void {
    for (const cancel of this.timers.values()) cancel();
    this.timers.clear();
    this.counts.clear();
    this.maskedPending.clear();
    this.coalescingDisabled.clear();
    this.mask = 0;
    this.threshold = 0;
    this.time = 0;
  }
}

/**
 * Calls `fire` before an Aggregation Time of `time` × 100 µs ends (TIME is a maximum). Node timers
 * have 1 ms resolution and fire up to about a millisecond late: a whole millisecond less is asked
 * for, and below 2 ms the next loop turn (what completes meanwhile is still aggregated).
 */
function afterAggregationTime(time: number, fire: () => void): () => void {
  const us = time * 100;
  if (us < 2000) {
    const h = setImmediate(fire);
    return () => clearImmediate(h);
  }
  const h = setTimeout(fire, Math.floor(us / 1000) - 1);
  h.unref();
  return () => clearTimeout(h);
}
