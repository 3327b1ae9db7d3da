import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { recordingLogger } from '@p2pkit/base';
import { serve } from '@p2pkit/fabric';
import { RegionIndex, VfioUserClient } from '@p2pkit/vfio-user';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { copyThroughHello } from './drive.ts';
import { hello, Reg, Status } from './hello.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hello-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

it('exposes its IDs and capabilities, a scratch register, and copies guest memory with an MSI-X interrupt', async () => {
  const log = recordingLogger();
  using served = serve(hello, { socket: join(dir, 'hello.sock'), logger: log });
  const client = await VfioUserClient.connect(served.server.path as string);
  expect(await client.read32(RegionIndex.CONFIG, 0)).toBe(0x00f01b36);
  expect((await client.read32(RegionIndex.CONFIG, 8)) >>> 8).toBe(0xff0000);
  const config = await client.regionRead(RegionIndex.CONFIG, 0, 4096);
  expect(capabilityIds(config)).toEqual([0x01, 0x10, 0x11]);
  expect(config.readUInt16LE(0x100)).toBe(0x0003); // Device Serial Number, first extended capability
  expect(config.readBigUInt64LE(0x104)).toBe(0x0123_4567_89ab_cdefn);

  await client.write32(RegionIndex.BAR0, Reg.SCRATCH, 0xcafef00d);
  expect(await client.read32(RegionIndex.BAR0, Reg.SCRATCH)).toBe(0xcafef00d);

  const payload = Buffer.from('p2pkit says hello through DMA');
  const r = await copyThroughHello(client, payload);
  expect(r.status).toBe(Status.DONE);
  expect(Buffer.from(r.destination).toString()).toBe(payload.toString());
  expect(r.interrupts).toBe(1n);
  expect(await client.read32(RegionIndex.BAR0, Reg.COPIES)).toBe(1);
  expect(log.entries.filter((e) => e.channel !== 'info')).toEqual([]);
  client.close();
});

it('refuses DMA while bus mastering is off and reports it as a guest error', async () => {
  const log = recordingLogger();
  using served = serve(hello, { socket: join(dir, 'hello.sock'), logger: log });
  const client = await VfioUserClient.connect(served.server.path as string);
  await client.write32(RegionIndex.BAR0, Reg.LEN, 16);
  await client.write32(RegionIndex.BAR0, Reg.CTRL, 1);
  await new Promise((r) => setTimeout(r, 20));
  expect(await client.read32(RegionIndex.BAR0, Reg.STATUS)).toBe(Status.ERROR);
  expect(log.entries.some((e) => e.channel === 'guest' && /DMA failed/.test(e.message))).toBe(true);
  client.close();
});

it('decodes the whole 4 KiB BAR: past the registers reads are 0 and writes are ignored (one guest-channel line)', async () => {
  const log = recordingLogger();
  using served = serve(hello, { socket: join(dir, 'hello.sock'), logger: log });
  const client = await VfioUserClient.connect(served.server.path as string);
  for (const offset of [0x40, 0x800 - 4, 0xffc]) {
    await client.write32(RegionIndex.BAR0, offset, 0xdeadbeef);
    if (offset !== 0x800 - 4) expect(await client.read32(RegionIndex.BAR0, offset)).toBe(0);
  }
  expect(await client.read32(RegionIndex.BAR0, 0x800 - 4)).toBe(0);
  expect((await client.regionRead(RegionIndex.BAR0, 0x3c, 8)).readBigUInt64LE(0)).toBe(0n); // straddles the end of the registers
  expect(log.entries.filter((e) => e.channel === 'device')).toEqual([]);
  const ignored = log.entries.filter((e) => e.channel === 'guest' && /ignored/.test(e.message));
  expect(ignored).toHaveLength(1); // rate-limited: one line, not one per access
  await client.write32(RegionIndex.BAR0, Reg.SCRATCH, 7); // the registers still work
  expect(await client.read32(RegionIndex.BAR0, Reg.SCRATCH)).toBe(7);
  client.close();
});

/** Walks the standard capability list as the guest's lspci does. */
function capabilityIds(config: Buffer): number[] {
  const ids: number[] = [];
  for (let at = config[0x34] as number; at && ids.length < 48; at = config[at + 1] as number) ids.push(config[at] as number);
  return ids;
}
