/**
 * Flush and FUA reach the backing file: a write whose completion was posted after FUA or after a
 * Flush is in the namespace image even when the server process is killed (SIGKILL) right away.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RegionIndex, VfioUserClient } from '@p2pkit/vfio-user';
import { afterEach, expect, it } from 'vitest';
import { Driver, GuestRam } from './helpers.ts';

let child: ChildProcess | undefined;
let dir: string | undefined;
afterEach(() => {
  child?.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it('a FUA write and a flushed write survive killing the server as soon as they complete', async () => {
  dir = mkdtempSync(join(tmpdir(), 'p2pkit-durable-'));
  const socket = join(dir, 'nvme.sock');
  const image = join(dir, 'ns1.img');
  child = spawn(process.execPath, ['--import', 'tsx', '--conditions=source', join(import.meta.dirname, 'fixtures/serve-nvme.ts'), socket, image], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child?.stdout?.once('data', () => resolve());
    child?.once('exit', (c) => reject(new Error(`server exited with ${c}`)));
  });
  const client = await VfioUserClient.connect(socket);
  const ram = new GuestRam();
  await client.dmaMap({ address: ram.base, size: BigInt(ram.size), flags: 3, fd: ram.memory.fd.fd });
  await client.write32(RegionIndex.CONFIG, 4, 0x6);
  const drv = new Driver(client, ram);
  await drv.enable();
  expect((await drv.setFeature(0x07, 0)).status).toBe(0);
  const q = await drv.createQueuePair(1, 16);
  const buf = drv.alloc(4096);
  ram.view(buf, 512).fill(0xa5);
  const fua = drv.place(1, { opcode: 0x01, nsid: 1, prp1: buf, cdw10: 0, cdw12: 1 << 30 }); // Write, FUA
  await drv.ringSq(q);
  expect((await drv.take(1, fua)).status).toBe(0);
  ram.view(buf, 512).fill(0x3c);
  const plain = drv.place(1, { opcode: 0x01, nsid: 1, prp1: buf, cdw10: 8, cdw12: 0 }); // Write LBA 8
  await drv.ringSq(q);
  expect((await drv.take(1, plain)).status).toBe(0);
  const flush = drv.place(1, { opcode: 0x00, nsid: 1 });
  await drv.ringSq(q);
  expect((await drv.take(1, flush)).status).toBe(0);
  child.kill('SIGKILL'); // no chance to close files or flush anything else
  await new Promise((r) => child?.once('exit', r));
  const data = readFileSync(image);
  expect(data.subarray(0, 512).every((b) => b === 0xa5)).toBe(true);
  expect(data.subarray(8 * 512, 9 * 512).every((b) => b === 0x3c)).toBe(true);
  client.close();
  ram.close();
});
