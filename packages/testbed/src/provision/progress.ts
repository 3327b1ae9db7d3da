/** Step-by-step progress reporting for provisioning. */

/** What happened to a provisioning step. */
export type ProgressStatus = 'start' | 'done' | 'cached' | 'info' | 'fail';

/** One progress event. */
export interface ProgressEvent {
  /** Stable step name, e.g. `apt-update`, `qemu-sysroot`, `kernel`, `guest-rootfs`. */
  readonly step: string;
  readonly status: ProgressStatus;
  readonly message: string;
  /** Time spent in the step so far (for `done`/`fail`), in milliseconds. */
  readonly elapsedMs?: number;
}

/** Receives progress events. */
export type ProgressListener = (event: ProgressEvent) => void;

/** Default reporter: one line per event on stderr, e.g. `[p2pkit] kernel: done (2.1 s) ABI 7.2.13+deb14-amd64`. */
export function consoleReporter(event: ProgressEvent): void {
  const time = event.elapsedMs === undefined ? '' : ` (${(event.elapsedMs / 1000).toFixed(1)} s)`;
  process.stderr.write(`[p2pkit] ${event.step}: ${event.status}${time} ${event.message}\n`);
}

/** A listener that ignores everything. */
export const silentReporter: ProgressListener = () => {};

/** Run `body` as step `step`, emitting start/done/fail with timings. */
export async function step<T>(
  listener: ProgressListener,
  name: string,
  message: string,
  body: () => Promise<T>,
): Promise<T> {
  const t0 = performance.now();
  listener({ step: name, status: 'start', message });
  try {
    const value = await body();
    listener({ step: name, status: 'done', message, elapsedMs: performance.now() - t0 });
    return value;
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    listener({ step: name, status: 'fail', message: why, elapsedMs: performance.now() - t0 });
    throw new ProvisionError(name, why, { cause: error });
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
