/**
 * Interrupts as a vfio-user client receives them: one eventfd per MSI-X vector (or one for the INTx
 * pin), handed to the server with SET_IRQS. Signals are counted as the eventfds are drained.
 */
import { EventFd } from '@p2pkit/native';

/** A set of interrupt eventfds, vector `v` being `fds[v]`, with per-vector signal counts. */
export class InterruptEventFds {
  /** The eventfds, by vector: pass their `fd` to SET_IRQS. */
  readonly fds: readonly EventFd[];
  readonly #counts: number[];

  /** Creates `vectors` non-blocking eventfds. */
  constructor(vectors: number) {
    if (!Number.isInteger(vectors) || vectors < 1) throw new RangeError(`interrupt vectors ${vectors}`);
    this.fds = Array.from({ length: vectors }, () => EventFd.create());
    this.#counts = new Array<number>(vectors).fill(0);
  }

  /** Signals received on `vector` since the last {@link InterruptEventFds.clear}. */
  count(vector: number): number {
    this.#drain();
    return this.#counts[vector] ?? 0;
  }

  /** The vectors signalled since the last {@link InterruptEventFds.clear}, ascending. */
  fired(): number[] {
    this.#drain();
    return this.#counts.flatMap((c, v) => (c > 0 ? [v] : []));
  }

  /** Forgets every signal received so far. */
  clear(): void {
    this.#drain();
    this.#counts.fill(0);
  }

  /** Closes the eventfds (the server closes its own copies when the client goes away). */
  close(): void {
    for (const fd of this.fds) fd.close();
  }

  #drain(): void {
    this.fds.forEach((fd, v) => {
      this.#counts[v] = (this.#counts[v] ?? 0) + Number(fd.drain());
    });
  }
}
