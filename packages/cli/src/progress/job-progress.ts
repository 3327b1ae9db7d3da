/**
 * Progress of a long guest job: elapsed time and, when the host can see it, bytes moved so far
 * against the expected total — a bar on a terminal (cli-progress), a line every few seconds elsewhere.
 */
import { formatBytes } from '@p2pkit/base';
import cliProgress from 'cli-progress';

/** Options of {@link withJobProgress}. */
export interface JobProgressOptions {
  /** Bytes done so far (e.g. from the fabric's live counters); omit when unknown. */
  done?: () => number;
  /** The total `done` reaches at the end. */
  total?: number;
  stream?: NodeJS.WriteStream;
}

/** Runs `job` while showing `label`, elapsed time and bytes; the display ends with the job. */
export async function withJobProgress<T>(label: string, job: Promise<T>, options: JobProgressOptions = {}): Promise<T> {
  const stream = options.stream ?? process.stderr;
  const t0 = performance.now();
  const elapsed = () => `${((performance.now() - t0) / 1000).toFixed(1)} s`;
  const bytes = () => {
    const done = options.done?.();
    if (done === undefined) return '';
    const rate = done / Math.max(0.001, (performance.now() - t0) / 1000) / 1e6;
    return `${formatBytes(Math.min(done, options.total ?? done))}${options.total ? ` of ${formatBytes(options.total)}` : ''} (${rate.toFixed(1)} MB/s)`;
  };
  let tick: () => void;
  let finish: () => void;
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      { stream, format: ` {bar} ${label}  {elapsed}  {bytes}`, hideCursor: true, barsize: 24, fps: 8, clearOnComplete: false },
      cliProgress.Presets.shades_classic,
    );
    const total = options.total ?? 1;
    bar.start(total, 0, { elapsed: elapsed(), bytes: bytes() });
    tick = () => bar.update(Math.min(total, options.done?.() ?? 0), { elapsed: elapsed(), bytes: bytes() });
    finish = () => {
      bar.update(total, { elapsed: elapsed(), bytes: bytes() });
      bar.stop();
    };
  } else {
    let last = 0;
    tick = () => {
      if (performance.now() - last < 5000) return;
      last = performance.now();
      stream.write(`[p2pkit] ${label}: ${elapsed()} ${bytes()}\n`);
    };
    finish = () => stream.write(`[p2pkit] ${label}: done in ${elapsed()} ${bytes()}\n`);
  }
  const timer = setInterval(tick, 250);
  try {
    return await job;
  } finally {
    clearInterval(timer);
    finish();
  }
}
