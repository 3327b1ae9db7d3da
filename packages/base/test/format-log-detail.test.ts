import { describe, expect, it } from 'vitest';
import { DmaError, formatLogDetail } from '../src/index.ts';

describe('formatLogDetail', () => {
  it('prints bigints as hex and Errors as name: message', () => {
    const detail = { address: 0x1_0000_0000n, error: new DmaError('unmapped', 0x10n, 4, 14), nested: { at: [1n] } };
    expect(formatLogDetail(detail)).toBe(' {"address":"0x100000000","error":"DmaError: unmapped","nested":{"at":["0x1"]}}');
  });

  it('never throws, even on a cycle', () => {
    const cycle: Record<string, unknown> = { n: 1 };
    cycle.self = cycle;
    expect(formatLogDetail(cycle)).toBe(' [detail not serialisable]');
    expect(formatLogDetail(undefined)).toBe('');
  });
});
