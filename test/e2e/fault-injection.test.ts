/**
 * Fault injection: QEMU killed (SIGKILL) in the middle of an fio write job. The p2pkit server stays
 * up, its session ends, a new QEMU attaches to the same server, and every write the guest completed
 * before its last flush is on disk (checked in the image file on the host and read back by the new
 * guest).
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { boot, type Guest, provision } from '@p2pkit/testbed';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kv } from './guest-tool.ts';
import { bootNvmeSwitch, deviceBugs, type NvmeScenario } from './nvme-rig.ts';

const FLUSHED_MIB = 32;

function md5OfFile(path: string, bytes: number): string {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(bytes);
    let at = 0;
    while (at < bytes) {
      const n = readSync(fd, b, at, bytes - at, at);
      if (n <= 0) break;
      at += n;
    }
    return createHash('md5').update(b).digest('hex');
  } finally {
    closeSync(fd);
  }
}

describe('fault injection: QEMU killed during writes', () => {
  let s: NvmeScenario;
  let second: Guest | undefined;

  beforeAll(async () => {
    s = await bootNvmeSwitch({ nvme0: { serial: 'P2PKIT-FI', namespaceMiB: [256] } }, { cpus: 2 });
  });
  afterAll(async () => {
    await second?.shutdown();
    await s?.close();
  });

  it('SIGKILL of QEMU mid-fio: the server stays up, a new QEMU attaches, flushed writes are on disk', async () => {
    const nvme = s.nvme.get('nvme0');
    const server = s.rig.servers.get('nvme0');
    expect(nvme && server).toBeTruthy();
    // 1. A random pattern written with O_DIRECT and fsync (the nvme driver sends a Flush).
    const w = await s.guest.run(
      `d=$(nvme_ns_by_serial P2PKIT-FI)
       head -c ${FLUSHED_MIB}M /dev/urandom > /tmp/pattern
       dd if=/tmp/pattern of=$d bs=1M oflag=direct conv=fsync status=none && echo "dd=0"
       echo "sum=$(md5sum < /tmp/pattern | cut -d' ' -f1)"`,
      { timeoutMs: 120_000 },
    );
    expect(w.exitCode, w.stderr).toBe(0);
    const sum = kv(w.stdout).sum as string;
    expect(kv(w.stdout).dd).toBe('0');

    // 2. fio writes elsewhere on the namespace; QEMU is killed while they are in flight.
    const count = () => Object.values(nvme?.controller.stats.commandsBySq ?? {}).reduce((a, b) => a + b, 0);
    const before = count();
    const job = s.guest
      .run(
        `d=$(nvme_ns_by_serial P2PKIT-FI)
         fio --name=busy --filename=$d --direct=1 --ioengine=libaio --iodepth=32 --rw=randwrite --bs=4k \\
             --offset=64M --size=128M --time_based --runtime=120 > /dev/null`,
        { timeoutMs: 180_000 },
      )
      .catch((e: unknown) => e);
    const deadline = Date.now() + 120_000;
    while (count() - before < 2000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(count() - before).toBeGreaterThanOrEqual(2000);
    const sessionsBefore = server?.sessionCount ?? 0;
    s.guest.kill();
    await job;
    await server?.sessionEnded();
    expect(server?.session).toBeUndefined();

    // 3. The flushed bytes are in the image file on the host.
    expect(md5OfFile(join(s.dir, 'nvme0-ns1.img'), FLUSHED_MIB << 20)).toBe(sum);

    // 4. A new QEMU attaches to the same, still running server and reads them back.
    second = await boot(s.rig.topology, { provisioned: await provision(), waitForNvme: 1, cpus: 2 });
    expect(server?.sessionCount).toBe(sessionsBefore + 1);
    const r = await second.run(
      `d=$(nvme_ns_by_serial P2PKIT-FI)
       echo "sum=$(dd if=$d bs=1M count=${FLUSHED_MIB} iflag=direct status=none | md5sum | cut -d' ' -f1)"`,
      { timeoutMs: 120_000 },
    );
    expect(r.exitCode, r.stderr).toBe(0);
    expect(kv(r.stdout).sum).toBe(sum);
    expect(deviceBugs(s.log)).toEqual([]);
  });
});
