/**
 * The controller on a worker thread, the driver in the test's thread: data written through the
 * threaded controller reads back and is in the image after close (namespaces flushed by the
 * thread), the thread ends with close(), a thread that ends while serving is reported and does not
 * leave requests hanging, and a thread that cannot start rejects with its error.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IoOpcode, Status } from '@p2pkit/nvme';
import { startNvmeWorkerHarness } from '@p2pkit/nvme/testing';
import { afterEach, describe, expect, it } from 'vitest';
import type { NvmeWorkerCommand } from '../src/testing/nvme-worker-protocol.ts';

const directories: string[] = [];
afterEach(async () => {
  for (const d of directories.splice(0)) await rm(d, { recursive: true, force: true });
});
async function directory(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'p2pkit-worker-harness-'));
  directories.push(d);
  return d;
}

describe('startNvmeWorkerHarness', () => {
  it('serves the controller from a thread: a write reads back, lands in the image, and close ends the thread', async () => {
    const dir = await directory();
    const image = join(dir, 'ns.raw');
    const h = await startNvmeWorkerHarness({ directory: dir, namespaces: [{ path: image, sizeBytes: 1 << 20, lbaSize: 4096 }] });
    const ended = new Promise<number>((resolve) => h.worker.once('exit', resolve));
    try {
      expect(h.worker.threadId).toBeGreaterThan(0);
      await h.driver.bringUp();
      const out = h.memory.alloc(8192);
      const data = Uint8Array.from({ length: 8192 }, (_, i) => (i * 13 + 5) & 0xff);
      h.memory.view(out, 8192).set(data);
      const written = await h.driver.readWrite(1, { opcode: IoOpcode.Write, nsid: 1, slba: 3n, blocks: 2, buffer: out, bytes: 8192 });
      expect(written.status).toBe(Status.Success);
      const back = h.memory.alloc(8192);
      const read = await h.driver.readWrite(1, { opcode: IoOpcode.Read, nsid: 1, slba: 3n, blocks: 2, buffer: back, bytes: 8192 });
      expect(read.status).toBe(Status.Success);
      expect(h.memory.view(back, 8192)).toEqual(data);
      expect(h.deviceErrors).toEqual([]);
    } finally {
      await h.close();
    }
    expect(await ended).toBe(0);
    expect(h.worker.threadId).toBe(-1);
    const bytes = await readFile(image);
    expect(new Uint8Array(bytes.subarray(3 * 4096, 5 * 4096))).toEqual(Uint8Array.from({ length: 8192 }, (_, i) => (i * 13 + 5) & 0xff));
  });

  it('forwards the guest errors the threaded controller logs', async () => {
    const h = await startNvmeWorkerHarness({ directory: await directory() });
    try {
      await h.driver.bringUp();
      expect(h.guestErrors).toEqual([]);
      // The SQ 5 tail doorbell (BAR0 0x1000 + 2·5·4): no such queue, so the controller logs a guest error.
      await h.client.write32(0, 0x1000 + 2 * 5 * 4, 1);
      await expect
        .poll(() => h.guestErrors.map((e) => e.message))
        .toContainEqual(expect.stringMatching(/SQ tail doorbell of a missing queue/));
      expect(h.guestErrors.at(-1)?.detail).toMatchObject({ qid: 5, value: 1 });
    } finally {
      await h.close();
    }
  });

  it('a thread that ends while serving: the connection closes, waiting requests reject, close() reports it', async () => {
    const h = await startNvmeWorkerHarness({ directory: await directory(), timeoutMs: 60_000 });
    await h.driver.bringUp();
    // The thread dies as a crashed one does (Worker.terminate() could abort this process: see NvmeWorkerCommand).
    const exited = new Promise((resolve) => h.worker.once('exit', resolve));
    h.worker.postMessage({ kind: 'exit', code: 1 } satisfies NvmeWorkerCommand);
    await exited;
    // Without the harness closing it, the connection would stay open (the dead thread's socket is
    // a native fd the process still holds) and this read would wait out its 60 s timeout.
    await expect(h.client.read32(0, 0x1c)).rejects.toThrow(/closed/);
    await h.client.whenClosed();
    await expect(h.close()).rejects.toThrow(/^nvme worker: the thread ended while serving \(exit code 1\)$/);
  });

  it('rejects with the thread’s error, on one line, when the controller cannot be created', async () => {
    const dir = await directory();
    const missing = join(dir, 'missing', 'ns.raw');
    await expect(startNvmeWorkerHarness({ directory: dir, namespaces: [{ path: missing, sizeBytes: 1 << 20 }] })).rejects.toThrow(
      new RegExp(`^nvme worker: ENOENT[^\n]*${missing}[^\n]*$`),
    );
  });

  it('rejects options that are not plain data before starting a thread', async () => {
    const options = { directory: await directory(), serial: (() => 'x') as unknown as string };
    await expect(startNvmeWorkerHarness(options)).rejects.toThrow(/^nvme worker: options must be plain data/);
  });
});
