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
  private readonly timers = new Map<number, NodeJS.Timeout>();
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

  /** One or more completions were posted to a CQ using `vector`. */
  notify(vector: number): void {
    const coalesce = vector !== 0 && !this.coalescingDisabled.has(vector) && (this.threshold !== 0 || this.time !== 0);
    if (!coalesce) {
      this.fire(vector);
      return;
    }
    const n = (this.counts.get(vector) ?? 0) + 1;
    if (n > this.threshold) {
      this.fire(vector);
      return;
    }
    this.counts.set(vector, n);
    if (this.time !== 0 && !this.timers.has(vector)) {
      const t = setTimeout(() => this.fire(vector), Math.max(1, Math.ceil(this.time / 10)));
      t.unref?.();
      this.timers.set(vector, t);
    }
  }

  private fire(vector: number): void {
    this.counts.delete(vector);
    const t = this.timers.get(vector);
    if (t) {
      clearTimeout(t);
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
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.counts.clear();
    this.maskedPending.clear();
    this.coalescingDisabled.clear();
    this.mask = 0;
    this.threshold = 0;
    this.time = 0;
  }
}
