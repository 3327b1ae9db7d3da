/**
 * Wakes waiters at their due times with one timer for all of them: a min-heap of due times, the
 * timer armed for the earliest. When it fires, every waiter already due is released in the same
 * turn, so completions due together post together. Never early: a timer that fires before the
 * earliest due time (Node timers have 1 ms resolution) is re-armed for the rest.
 */

/** Where the scheduler reads time and sets its one timer; injectable for tests. */
export interface TimingClock {
  /** Monotonic time, µs. */
  now(): number;
  /** Calls `wake` once, about `delayUs` from now; returns a cancel function. */
  setTimer(wake: () => void, delayUs: number): () => void;
}

/**
 * performance.now() and Node timers: setTimeout for whole milliseconds (it tends to fire a little
 * late), setImmediate for a remainder below 1 ms (polls the loop until due, without blocking it).
 */
const realTimingClock: TimingClock = {
  now: () => performance.now() * 1000,
  setTimer(wake, delayUs) {
    if (delayUs < 1000) {
      const h = setImmediate(wake);
      return () => clearImmediate(h);
    }
    const h = setTimeout(wake, Math.floor(delayUs / 1000));
    return () => clearTimeout(h);
  },
};

interface Waiter {
  due: number;
  release: () => void;
}

export class CompletionScheduler {
  private readonly heap: Waiter[] = [];
  private armedFor = Number.POSITIVE_INFINITY;
  private cancel: (() => void) | undefined;

  constructor(readonly clock: TimingClock = realTimingClock) {}

  /** Waiters not released yet. */
  get pending(): number {
    return this.heap.length;
  }

  /** Resolves at or after `dueUs` on the clock (at once when it has passed). */
  waitUntil(dueUs: number): Promise<void> {
    if (dueUs <= this.clock.now()) return Promise.resolve();
    return new Promise<void>((release) => {
      this.push({ due: dueUs, release });
      if (dueUs < this.armedFor) this.arm();
    });
  }

  private arm(): void {
    this.cancel?.();
    this.cancel = undefined;
    const first = this.heap[0];
    if (!first) {
      this.armedFor = Number.POSITIVE_INFINITY;
      return;
    }
    this.armedFor = first.due;
    this.cancel = this.clock.setTimer(() => this.fire(), Math.max(0, first.due - this.clock.now()));
  }

  private fire(): void {
    this.cancel = undefined;
    const now = this.clock.now();
    while (this.heap.length > 0 && (this.heap[0] as Waiter).due <= now) this.pop().release();
    this.arm();
  }

  // ---- binary min-heap on `due` ---------------------------------------------------------------

  private push(w: Waiter): void {
    const h = this.heap;
    h.push(w);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((h[parent] as Waiter).due <= w.due) break;
      h[i] = h[parent] as Waiter;
      i = parent;
    }
    h[i] = w;
  }

  private pop(): Waiter {
    const h = this.heap;
    const top = h[0] as Waiter;
    const last = h.pop() as Waiter;
    if (h.length === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const child = r < h.length && (h[r] as Waiter).due < (h[l] as Waiter).due ? r : l;
      if ((h[child] as Waiter).due >= last.due) break;
      h[i] = h[child] as Waiter;
      i = child;
    }
    h[i] = last;
    return top;
  }
}
