/**
 * A seeded run of the NVMe fuzzer (fuzz/nvme-fuzzer.ts): 20,000 commands through the TypeScript
 * host driver with register writes, doorbell misuse and resets in between. Long runs:
 * `npm run fuzz:nvme -- --steps 1000000 --seed N`.
 */
import { describe, expect, it } from 'vitest';
import { formatNvmeSummary, fuzzNvme } from './nvme-fuzzer.ts';

describe('NVMe fuzzer', () => {
  it('20,000 seeded commands: no crash, no hang, no device error, the controller always comes back', async () => {
    const s = await fuzzNvme({ commands: 20_000, seed: 20260103 });
    console.log(formatNvmeSummary(s));
    expect(s.findings).toEqual([]);
    expect(s.commands).toBe(20_000);
    expect(s.completions + s.dropped + s.lostToCfs).toBe(s.commands);
    expect(s.statuses.Success).toBeGreaterThan(0);
    expect(Object.keys(s.disruptions).length).toBeGreaterThanOrEqual(6);
  }, 240_000);
});
