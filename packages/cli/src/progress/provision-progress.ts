/**
 * Provisioning progress for people: on a terminal, a live list of steps (spinner, elapsed time,
 * bytes downloaded so far) drawn with cli-progress; elsewhere (CI, pipes) the testbed's plain lines.
 */
import { formatBytes } from '@p2pkit/base';
import { consoleReporter, type ProgressListener } from '@p2pkit/testbed';
import cliProgress from 'cli-progress';

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/** A listener plus `stop()` (call it once provisioning is over, also on failure). */
export interface ProvisionDisplay {
  listener: ProgressListener;
  stop(): void;
}

/** A live step list on `stream` when it is a terminal, else one plain line per step. */
export function provisionDisplay(stream: NodeJS.WriteStream = process.stderr): ProvisionDisplay {
  if (!stream.isTTY) return { listener: consoleReporter, stop: () => {} };
  const multi = new cliProgress.MultiBar(
    {
      stream,
      format: ' {icon} {step}  {elapsed}  {bytes}  {message}',
      hideCursor: true,
      clearOnComplete: false,
      autopadding: true,
      fps: 8,
    },
    cliProgress.Presets.legacy,
  );
  const running = new Map<string, { bar: cliProgress.SingleBar; t0: number; bytes: string }>();
  let frame = 0;
  const timer = setInterval(() => {
    frame = (frame + 1) % FRAMES.length;
    for (const [, r] of running) r.bar.update(0, { icon: FRAMES[frame], elapsed: seconds(performance.now() - r.t0) });
  }, 125);
  timer.unref();
  const listener: ProgressListener = (e) => {
    const r = running.get(e.step);
    const message = e.message.length > 90 ? `${e.message.slice(0, 89)}…` : e.message;
    if (e.status === 'start') {
      const bar = multi.create(1, 0, { icon: FRAMES[frame], step: e.step.padEnd(13), elapsed: seconds(0), bytes: '', message });
      running.set(e.step, { bar, t0: performance.now(), bytes: '' });
    } else if (e.status === 'progress' && r) {
      r.bytes = e.bytes ? `${formatBytes(e.bytes)} downloaded` : '';
      r.bar.update(0, { bytes: r.bytes });
    } else if ((e.status === 'done' || e.status === 'fail') && r) {
      const bytes = e.bytes ? `${formatBytes(e.bytes)} downloaded` : r.bytes;
      r.bar.update(1, { icon: e.status === 'done' ? '✔' : '✖', elapsed: seconds(e.elapsedMs ?? 0), bytes, message });
      r.bar.stop();
      running.delete(e.step);
    } else {
      multi.log(`[p2pkit] ${e.step}: ${e.status} ${e.message}\n`);
    }
  };
  return {
    listener,
    stop: () => {
      clearInterval(timer);
      multi.stop();
    },
  };
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`.padStart(7);
}
