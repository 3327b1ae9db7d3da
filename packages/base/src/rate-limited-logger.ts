/**
 * Rate limiting for log channels: a guest or client that repeats a mistake in a loop (200,000 bad
 * REGION_READs wrote ≈16 MB to stderr) must not be able to flood the log or slow the server down.
 */
import type { LogChannel, Logger } from './logger.ts';

/** Options of {@link rateLimitedLogger}. */
export interface RateLimitOptions {
  /** Lines of one kind logged back to back before limiting starts. Default 10. */
  burst?: number;
  /** Lines of one kind per second once the burst is spent. Default 1. */
  perSecond?: number;
  /** Lines per channel (all kinds together) logged back to back. Default 10 × burst. */
  channelBurst?: number;
  /** Lines per channel (all kinds together) per second once that burst is spent. Default 10 × perSecond. */
  channelPerSecond?: number;
  /** Channels to limit. Default: guest, client and device (info passes untouched). */
  channels?: readonly LogChannel[];
  /** How often pending "suppressed" counts are reported when no further line of their kind is logged. Default 2000 ms; 0: never. */
  reportIntervalMs?: number;
  /** Clock in milliseconds (tests). */
  now?: () => number;
}

/** A token bucket: `burst` tokens, refilled at `perSecond`. */
class Bucket {
  #tokens: number;
  #at: number;
  constructor(
    private readonly burst: number,
    private readonly perSecond: number,
    now: number,
  ) {
    this.#tokens = burst;
    this.#at = now;
  }

  take(now: number): boolean {
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#at) / 1000) * this.perSecond);
    this.#at = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

interface Kind {
  channel: LogChannel;
  bucket: Bucket;
  suppressed: number;
  /** The text of the last suppressed line, for the summary. */
  last: string;
}

/**
 * Messages differing only in numbers (offsets, addresses, ids) are one kind: a fuzzing client sends
 * a different offset every time.
 */
const kindOf = (channel: LogChannel, message: string) => `${channel}\0${message.replace(/0x[0-9a-f]+|\d+/gi, '#')}`;

/** Kinds remembered at once; beyond this, kinds with nothing pending are forgotten. */
const MAX_KINDS = 4096;

const suffix = (n: number) => ` (${n} similar message${n === 1 ? '' : 's'} suppressed)`;

/**
 * Wraps `logger` so that each kind of line (channel + message text, details ignored) is logged at
 * most `burst` times at once and `perSecond` after that, and each channel at most `channelBurst` /
 * `channelPerSecond`. Suppressed lines are counted: the next line of the kind that gets through
 * ends in "(N similar messages suppressed)"; a kind that stays quiet is summed up by a periodic
 * "suppressed N similar messages: <last one>" line.
 */
export function rateLimitedLogger(logger: Logger, options: RateLimitOptions = {}): Logger {
  const burst = options.burst ?? 10;
  const perSecond = options.perSecond ?? 1;
  const channelBurst = options.channelBurst ?? burst * 10;
  const channelPerSecond = options.channelPerSecond ?? perSecond * 10;
  const limited = new Set<LogChannel>(options.channels ?? ['guest', 'client', 'device']);
  const reportIntervalMs = options.reportIntervalMs ?? 2000;
  const now = options.now ?? Date.now;
  const kinds = new Map<string, Kind>();
  const channels = new Map<LogChannel, Bucket>();
  let timer: ReturnType<typeof setTimeout> | undefined;

  // Summaries are bounded too: per channel, `burst` kinds by name, the rest in one line.
  const report = () => {
    timer = undefined;
    const named = new Map<LogChannel, number>();
    const rest = new Map<LogChannel, number>();
    for (const [key, k] of kinds) {
      if (k.suppressed === 0) {
        kinds.delete(key); // idle since the last report: forget it, so the map stays small
        continue;
      }
      const n = named.get(k.channel) ?? 0;
      if (n < burst) {
        logger[k.channel](`suppressed ${k.suppressed} similar message${k.suppressed === 1 ? '' : 's'}: ${k.last}`);
        named.set(k.channel, n + 1);
      } else {
        rest.set(k.channel, (rest.get(k.channel) ?? 0) + k.suppressed);
      }
      k.suppressed = 0;
    }
    for (const [channel, n] of rest) logger[channel](`… and ${n} other ${channel} messages suppressed`);
  };

  const limit =
    (channel: LogChannel) =>
    (message: string, detail?: Record<string, unknown>): void => {
      const t = now();
      const key = kindOf(channel, message);
      let k = kinds.get(key);
      if (!k) {
        if (kinds.size >= MAX_KINDS) for (const [key2, k2] of kinds) if (k2.suppressed === 0) kinds.delete(key2);
        k = { channel, bucket: new Bucket(burst, perSecond, t), suppressed: 0, last: message };
        kinds.set(key, k);
      }
      let channelBucket = channels.get(channel);
      if (!channelBucket) {
        channelBucket = new Bucket(channelBurst, channelPerSecond, t);
        channels.set(channel, channelBucket);
      }
      if (!k.bucket.take(t) || !channelBucket.take(t)) {
        k.suppressed++;
        k.last = message;
        if (!timer && reportIntervalMs > 0) {
          timer = setTimeout(report, reportIntervalMs);
          timer.unref?.(); // never keeps a process alive
        }
        return;
      }
      const pending = k.suppressed;
      k.suppressed = 0;
      logger[channel](pending ? `${message}${suffix(pending)}` : message, detail);
    };

  const pass = (channel: LogChannel) => (message: string, detail?: Record<string, unknown>) => logger[channel](message, detail);
  const wrap = (channel: LogChannel) => (limited.has(channel) ? limit(channel) : pass(channel));
  return { guest: wrap('guest'), client: wrap('client'), device: wrap('device'), info: wrap('info') };
}
