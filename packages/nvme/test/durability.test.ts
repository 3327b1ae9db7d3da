/**
 * Flush and FUA reach the backing file: a write whose completion was posted after FUA or after a
 * Flush is in the namespace image even when the server process is killed (SIGKILL) right away.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GuestMemory, NvmeTestDriver } from '@p2pkit/nvme/testing';
import { RegionIndex, VfioUserClient } from '@p2pkit/vfio-user';
import { afterEach, expect, it } from 'vitest';

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
  child = spawn(
    process.execPath,
    ['--import', 'tsx', '--conditions=source', join(import.meta.dirname, 'fixtures/serve-nvme.ts'), socket, image],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  await new Promise<void>((resolve, reject) => {
    child?.stdout?.once('data', () => resolve());
    child?.once('exit', (c) => reject(new Error(`server exited with ${c}`)));
  });
  const client = await VfioUserClient.connect(socket);
  const memory = new GuestMemory();
  await client.dmaMap({ address: memory.base, size: BigInt(memory.size), flags: 3, fd: memory.fd });
  await client.write32(RegionIndex.CONFIG, 4, 0x6);
  const driver = new NvmeTestDriver(client, memory);
  await driver.enable();
  expect((await driver.setFeatures(0x07, 0)).status).toBe(0);
  await driver.createQueuePair(1, 16);
  const buf = driver.memory.alloc(4096);
  memory.view(buf, 512).fill(0xa5);
  const fua = driver.enqueue(1, { opcode: 0x01, nsid: 1, prp1: buf, cdw10: 0, cdw12: 1 << 30 }); // Write, FUA
  await driver.ringSqTail(1);
  expect((await driver.waitForCompletion(1, fua)).status).toBe(0);
  memory.view(buf, 512).fill(0x3c);
  const plain = driver.enqueue(1, { opcode: 0x01, nsid: 1, prp1: buf, cdw10: 8, cdw12: 0 }); // Write LBA 8
  await driver.ringSqTail(1);
  expect((await driver.waitForCompletion(1, plain)).status).toBe(0);
  const flush = driver.enqueue(1, { opcode: 0x00, nsid: 1 });
  await driver.ringSqTail(1);
  expect((await driver.waitForCompletion(1, flush)).status).toBe(0);
  child.kill('SIGKILL'); // no chance to close files or flush anything else
  await new Promise((r) => child?.once('exit', r));
  const data = readFileSync(image);
  expect(data.subarray(0, 512).every((b) => b === 0xa5)).toBe(true);
  expect(data.subarray(8 * 512, 9 * 512).every((b) => b === 0x3c)).toBe(true);
  client.close();
  memory.close();
});
