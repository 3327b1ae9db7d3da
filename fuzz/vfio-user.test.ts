/**
 * Seeded runs of the vfio-user fuzzer (fuzz/vfio-user-fuzzer.ts): 20,000 steps over the in-memory
 * transport, 1,000 over a real UNIX socket with the server in a child process. Long runs:
 * `npm run fuzz:vfio-user -- --steps 1000000 --seed N [--transport socket]`.
 */
import { describe, expect, it } from 'vitest';
import { formatVfioUserSummary, fuzzVfioUser } from './vfio-user-fuzzer.ts';

describe('vfio-user fuzzer', () => {
  it('20,000 seeded steps over MemoryTransport: no crash, no hang, every request answered once, no fd leak', async () => {
    const s = await fuzzVfioUser({ steps: 20_000, seed: 20260101, transport: 'memory' });
    console.log(formatVfioUserSummary(s));
    expect(s.findings).toEqual([]);
    expect(s.steps).toBe(20_000);
    expect(s.messages).toBeGreaterThan(40_000);
    expect(Object.keys(s.outcomes).length).toBeGreaterThan(3); // ok and several errnos: the mutations reach past the decoder
  }, 180_000);

  it('1,000 seeded steps over a UNIX socket to a server in a child process: it never dies or stops answering', async () => {
    const s = await fuzzVfioUser({ steps: 1_000, seed: 20260102, transport: 'socket' });
    console.log(formatVfioUserSummary(s));
    expect(s.findings).toEqual([]);
    expect(s.steps).toBe(1_000);
  }, 120_000);
});
