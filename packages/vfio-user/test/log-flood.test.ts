/**
 * A client that repeats a mistake in a loop must not flood the server's log: the default logger is
 * rate limited, and what it drops is counted in "(N similar messages suppressed)" lines.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { VfioUserClient, VfioUserServer } from '../src/index.ts';
import { Command, codec } from '../src/internal.ts';
import { ScratchDevice } from './scratch-device.ts';

let dir: string;
let device: ScratchDevice;
let server: VfioUserServer;
let lines: string[];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'p2pkit-flood-'));
  device = new ScratchDevice();
  lines = [];
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(...String(chunk).split('\n').filter(Boolean));
    return true;
  });
  server = VfioUserServer.listen(join(dir, 'dev.sock'), device); // default logger: console, rate limited
});
afterEach(() => {
  vi.restoreAllMocks();
  server.close();
  device.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('log flood', () => {
  it('200,000 bad REGION_READs (region out of range): bounded stderr, suppressed count reported, server alive', async () => {
    const client = await VfioUserClient.connect(server.path as string, { timeoutMs: 10_000 });
    const bad = codec.encodeRegionAccess({ offset: 0n, region: 12, count: 4 });
    const total = 200_000;
    // Posted (NO_REPLY), as QEMU sends BAR reads never: a reply per message would only slow the
    // flood down. A replied read every 2,000 keeps the socket buffers from growing without bound.
    for (let i = 1; i <= total; i++) {
      client.post(Command.REGION_READ, bad);
      if (i % 2000 === 0) expect(await client.read32(7, 0)).toBe(0x10f01b36);
    }
    // Every bad request is printed, or counted on a printed line ("… (N similar messages
    // suppressed)") or in a periodic summary ("suppressed N similar messages: …", from a timer).
    const accounted = () =>
      lines
        .filter((l) => /region 12 does not exist/.test(l))
        .reduce((n, l) => {
          const summary = /suppressed (\d+) similar messages?:/.exec(l);
          if (summary) return n + Number(summary[1]);
          return n + 1 + Number(/\((\d+) similar messages? suppressed\)/.exec(l)?.[1] ?? 0);
        }, 0);
    const end = Date.now() + 5000;
    while (accounted() < total && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    expect(accounted()).toBe(total);
    expect(lines.length).toBeLessThan(200);
    expect(lines.some((l) => /suppressed/.test(l))).toBe(true);
    expect(await client.read32(7, 0)).toBe(0x10f01b36); // still serving
    client.close();
  }, 120_000);
});
