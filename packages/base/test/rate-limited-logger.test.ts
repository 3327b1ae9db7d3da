import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { rateLimitedLogger, recordingLogger } from '../src/index.ts';

let clock = 0;
const now = () => clock;
beforeEach(() => {
  clock = 0;
  vi.useFakeTimers();
});
afterEach(() => vi.useRealTimers());

const messages = (log: ReturnType<typeof recordingLogger>) => log.entries.map((e) => `${e.channel}: ${e.message}`);

describe('rateLimitedLogger', () => {
  it('lets a burst through, then counts what it drops on the next line of that kind', () => {
    const inner = recordingLogger();
    const log = rateLimitedLogger(inner, { burst: 3, perSecond: 1, now, reportIntervalMs: 0 });
    for (let i = 0; i < 10; i++) log.guest('bad doorbell', { qid: i });
    expect(inner.entries).toHaveLength(3);
    expect(inner.entries[2]?.detail).toEqual({ qid: 2 });
    clock = 1000; // one token back
    log.guest('bad doorbell', { qid: 99 });
    expect(messages(inner).at(-1)).toBe('guest: bad doorbell (7 similar messages suppressed)');
    expect(inner.entries.at(-1)?.detail).toEqual({ qid: 99 });
  });

  it('treats messages that differ only in numbers as one kind, and keeps kinds and channels apart', () => {
    const inner = recordingLogger();
    const log = rateLimitedLogger(inner, { burst: 2, now, reportIntervalMs: 0 });
    for (let i = 0; i < 5; i++) log.client(`region ${i} does not exist at 0x${(i * 4096).toString(16)}`);
    for (let i = 0; i < 5; i++) log.device('handler threw');
    for (let i = 0; i < 5; i++) log.guest('handler threw');
    for (let i = 0; i < 5; i++) log.info('verbose'); // info is not limited
    expect(inner.entries.filter((e) => e.channel === 'client')).toHaveLength(2);
    expect(inner.entries.filter((e) => e.channel === 'device')).toHaveLength(2);
    expect(inner.entries.filter((e) => e.channel === 'guest')).toHaveLength(2);
    expect(inner.entries.filter((e) => e.channel === 'info')).toHaveLength(5);
  });

  it('caps a channel flooded with many different messages', () => {
    const inner = recordingLogger();
    const log = rateLimitedLogger(inner, { burst: 100, channelBurst: 20, now, reportIntervalMs: 0 });
    const words = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta', 'theta'];
    for (let i = 0; i < 1000; i++) log.client(`unsupported ${words[i % 8]}${words[(i >> 3) % 8]}${words[(i >> 6) % 8]}`);
    expect(inner.entries).toHaveLength(20);
  });

  it('reports counts of kinds that went quiet in a periodic summary, itself bounded', () => {
    const inner = recordingLogger();
    const log = rateLimitedLogger(inner, { burst: 1, channelBurst: 1000, now, reportIntervalMs: 2000 });
    for (let i = 0; i < 4; i++) log.guest('same mistake');
    const words = ['a', 'b', 'c', 'd', 'e'];
    for (const w of words) for (let i = 0; i < 3; i++) log.client(`kind ${w.repeat(3)}`);
    expect(inner.entries).toHaveLength(1 + words.length);
    vi.advanceTimersByTime(2000);
    const summaries = messages(inner).slice(1 + words.length);
    expect(summaries).toContain('guest: suppressed 3 similar messages: same mistake');
    // burst 1: one client kind by name, the other four summed up in one line
    expect(summaries.filter((m) => m.startsWith('client: suppressed 2 similar messages: kind'))).toHaveLength(1);
    expect(summaries).toContain('client: … and 8 other client messages suppressed');
  });

  it('leaves a recordingLogger unlimited unless wrapped', () => {
    const inner = recordingLogger();
    for (let i = 0; i < 1000; i++) inner.guest('x');
    expect(inner.entries).toHaveLength(1000);
  });
});
