import { describe, expect, it } from 'vitest';
import { coalescingDword, parseCoalescing } from './coalescing.ts';

describe('Interrupt Coalescing setting', () => {
  it("encodes Feature 08h's Dword 11: THR 0's based in bits 7:0, TIME in 100 µs units in bits 15:8", () => {
    expect(coalescingDword({ entries: 4, timeUs: 2000 })).toBe(0x1403);
    expect(coalescingDword({ entries: 1, timeUs: 100 })).toBe(0x0100);
    expect(coalescingDword({ entries: 256, timeUs: 25_500 })).toBe(0xffff);
  });

  it('parses entries,µs and refuses what the two 8-bit fields cannot hold', () => {
    expect(parseCoalescing(' 4,2000 ')).toEqual({ entries: 4, timeUs: 2000 });
    for (const bad of ['', '4', '4,', ',2000', '0,2000', '257,2000', '4,0', '4,50', '4,150', '4,25600', '-1,100', '4.5,100', '4,2000,1'])
      expect(parseCoalescing(bad), bad).toBeUndefined();
  });
});
