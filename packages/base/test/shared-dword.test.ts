import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { loadDword, storeDword } from '../src/shared-dword.ts';

const A = 0x0000_0000;
const B = 0xffff_ffff;

/**
 * A thread that flips the dword at byte 4 of `shared` between A and B with single stores
 * (`mode` 'write'), or reads it with single loads and counts values that are neither
 * (`mode` 'read'), until dword 0 is set. Resolves once the thread has started (dword 2 set).
 */
async function flipper(shared: SharedArrayBuffer, mode: 'write' | 'read'): Promise<{ done: Promise<number> }> {
  const code = `
    const { workerData, parentPort } = require('node:worker_threads');
    const words = new Uint32Array(workerData.shared);
    let torn = 0, flips = 0;
    Atomics.store(words, 2, 1); // started
    while (Atomics.load(words, 0) === 0) {
      if (workerData.mode === 'write') { Atomics.store(words, 1, (flips++ & 1) ? ${B} : ${A}); }
      else { const v = Atomics.load(words, 1); if (v !== ${A} && v !== ${B}) torn++; flips++; }
    }
    parentPort.postMessage({ torn, flips });`;
  const w = new Worker(code, { eval: true, workerData: { shared, mode } });
  const done = new Promise<number>((resolve, reject) => {
    w.once('message', (m: { torn: number; flips: number }) => resolve(m.flips > 0 ? m.torn : -1));
    w.once('error', reject);
  });
  // On a loaded host the thread may take a while to start: the 300 ms below must overlap it.
  const words = new Uint32Array(shared);
  while (Atomics.load(words, 2) === 0) await new Promise((r) => setTimeout(r, 1));
  return { done };
}

describe('loadDword / storeDword', () => {
  it('never sees half of a concurrent store (a byte-wise read does, within milliseconds)', async () => {
    const shared = new SharedArrayBuffer(16);
    const words = new Uint32Array(shared);
    const writer = await flipper(shared, 'write');
    const view = new Uint8Array(shared, 4, 8); // offset into the buffer: the index maths must hold
    const seen = new Set<number>();
    let torn = 0;
    const until = performance.now() + 300;
    while (performance.now() < until) {
      for (let i = 0; i < 1000; i++) {
        const v = loadDword(view, 0);
        if (v !== A && v !== B) torn++;
        else seen.add(v);
      }
    }
    Atomics.store(words, 0, 1);
    expect(await writer.done).toBe(0);
    expect(torn).toBe(0);
    expect(seen.size).toBe(2); // the writer really ran concurrently
  });

  it('never shows a concurrent reader half of its store', async () => {
    const shared = new SharedArrayBuffer(16);
    const words = new Uint32Array(shared);
    const reader = await flipper(shared, 'read');
    const view = new Uint8Array(shared);
    const until = performance.now() + 300;
    let flips = 0;
    while (performance.now() < until) for (let i = 0; i < 1000; i++) storeDword(view, 4, flips++ & 1 ? B : A);
    Atomics.store(words, 0, 1);
    expect(await reader.done).toBe(0);
  });

  it('reads and writes little-endian dwords at any offset; unaligned ones byte by byte', () => {
    const bytes = new Uint8Array(12);
    storeDword(bytes, 4, 0x1234_5678);
    expect([...bytes.subarray(4, 8)]).toEqual([0x78, 0x56, 0x34, 0x12]);
    storeDword(bytes, 1, 0xa1b2_c3d4);
    expect([...bytes.subarray(1, 5)]).toEqual([0xd4, 0xc3, 0xb2, 0xa1]);
    expect(loadDword(bytes, 1)).toBe(0xa1b2_c3d4);
    expect(loadDword(bytes.subarray(4), 4)).toBe(0);
    expect(() => loadDword(bytes, 9)).toThrow(RangeError);
    expect(() => storeDword(bytes, -1, 0)).toThrow(RangeError);
  });
});
