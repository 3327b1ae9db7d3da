/** Step-by-step progress reporting for provisioning. */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** What happened to a provisioning step. */
export type ProgressStatus = 'start' | 'progress' | 'done' | 'cached' | 'info' | 'fail';

/** One progress event. */
export interface ProgressEvent {
  /** Stable step name, e.g. `apt-update`, `qemu-sysroot`, `kernel`, `guest-rootfs`. */
  readonly step: string;
  readonly status: ProgressStatus;
  readonly message: string;
  /** Time spent in the step so far (for `progress`/`done`/`fail`), in milliseconds. */
  readonly elapsedMs?: number;
  /** Bytes downloaded by the step so far (`progress` events of steps that fetch packages). */
  readonly bytes?: number;
}

/** Receives progress events. */
export type ProgressListener = (event: ProgressEvent) => void;

/**
 * Default reporter: one line per event on stderr, e.g. `[p2pkit] kernel: done (2.1 s) ABI 7.2.13+deb14-amd64`.
 * `progress` events are left out (a log gets the step's start and end, not a line per second).
 */
export function consoleReporter(event: ProgressEvent): void {
  if (event.status === 'progress') return;
  const got = event.bytes ? `, ${(event.bytes / 1048576).toFixed(1)} MiB downloaded` : '';
  const time = event.elapsedMs === undefined ? '' : ` (${(event.elapsedMs / 1000).toFixed(1)} s${got})`;
  process.stderr.write(`[p2pkit] ${event.step}: ${event.status}${time} ${event.message}\n`);
}

/** A listener that ignores everything. */
export const silentReporter: ProgressListener = () => {};

/** Sizes of the files in `dirs` and their `partial/` folders (apt's download targets), by file name. */
function filesIn(dirs: readonly string[]): Map<string, number> {
  const sizes = new Map<string, number>();
  for (const dir of dirs.flatMap((d) => [d, join(d, 'partial')])) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue; // not created yet
    }
    for (const n of names) {
      try {
        const s = statSync(join(dir, n));
        if (s.isFile()) sizes.set(n, Math.max(sizes.get(n) ?? 0, s.size));
      } catch {
        /* removed while we looked */
      }
    }
  }
  return sizes;
}

/**
 * Run `body` as step `step`, emitting start/done/fail with timings. With `downloads` (folders apt
 * fetches into), a `progress` event with the bytes there so far is emitted every half second.
 */
export async function step<T>(
  listener: ProgressListener,
  name: string,
  message: string,
  body: () => Promise<T>,
  downloads?: () => readonly string[],
): Promise<T> {
  const t0 = performance.now();
  listener({ step: name, status: 'start', message });
  // Packages are deleted after extraction and move out of partial/ when complete: remember the
  // largest size seen per file name, so the total only grows.
  const seen = new Map<string, number>();
  const measure = (): number => {
    for (const [n, size] of filesIn(downloads?.() ?? [])) seen.set(n, Math.max(seen.get(n) ?? 0, size));
    return [...seen.values()].reduce((a, b) => a + b, 0);
  };
  const ticker = downloads
    ? setInterval(() => listener({ step: name, status: 'progress', message, bytes: measure(), elapsedMs: performance.now() - t0 }), 500)
    : undefined;
  ticker?.unref();
  try {
    const value = await body();
    const bytes = downloads ? measure() : 0;
    listener({ step: name, status: 'done', message, elapsedMs: performance.now() - t0, ...(bytes ? { bytes } : {}) });
    return value;
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    listener({ step: name, status: 'fail', message: why, elapsedMs: performance.now() - t0 });
    throw new ProvisionError(name, why, { cause: error });
  } finally {
    clearInterval(ticker);
  }
}

/** A provisioning step failed; `step` names it, the message says why. */
export class ProvisionError extends Error {
  constructor(
    readonly step: string,
    reason: string,
    options?: ErrorOptions,
  ) {
    super(`provisioning step "${step}" failed: ${reason}`, options);
    this.name = 'ProvisionError';
  }
}
