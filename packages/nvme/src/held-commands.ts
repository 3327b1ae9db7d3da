import type { NvmeStats } from './stats.ts';

/**
 * How long I/O commands stay inside the controller: from fetch until their completion entry is in
 * the CQ. Integrates the number held over time into {@link NvmeStats.ioHeldMicros} at every change,
 * so the sum needs no per-command state: ÷ I/O commands = mean time one spends in the controller,
 * and × IOPS (Little's law) = how many of the host's outstanding I/Os the controller holds on
 * average — the rest are in the host's software or in transit, which names the side that bounds a
 * benchmark.
 */
export class HeldCommands {
  #held = 0;
  #since = performance.now();

  constructor(private readonly stats: NvmeStats) {}

  /** `n` I/O commands fetched. */
  fetched(n: number): void {
    this.#advance();
    this.#held += n;
  }

  /** `n` I/O completions written into their CQ (or dropped with their CQ). */
  released(n: number): void {
    this.#advance();
    this.#held = Math.max(0, this.#held - n);
  }

  /** Controller reset: in-flight commands post nothing and stop counting. */
  clear(): void {
    this.#advance();
    this.#held = 0;
  }

  #advance(): void {
    const t = performance.now();
    if (this.#held > 0) this.stats.ioHeldMicros += this.#held * (t - this.#since) * 1000;
    this.#since = t;
  }
}
