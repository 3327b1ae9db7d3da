/**
 * Fault injection: the p2pkit server process itself is killed (SIGKILL) while the guest writes to
 * both namespaces (fio on a raw namespace, a file copy on ext4 on the other), then started again
 * from the same files, and a new QEMU boots. Every write the guest saw complete is on disk (a
 * numbered-block writer: each block it reported done is in the image), what it flushed before is
 * intact, ext4 replays its journal and fsck finds nothing, and the PMR holds what the guest stored
 * through BAR4 before the kill (the PMR is a shared mapping of its file: guest stores land in the
 * page cache, so no flush is needed to survive a server death).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { topology, vfioUser } from '@p2pkit/fabric';
import { boot, type Guest, installTool, provision } from '@p2pkit/testbed';
import { afterAll, describe, expect, it } from 'vitest';
import { buildGuestTool, kv } from './guest-tool.ts';

const SERVER = join(import.meta.dirname, 'fixtures', 'nvme-server-process.ts');
const barTool = buildGuestTool(join(import.meta.dirname, '../../scenarios/guest/bar-rw.c'));
const FLUSHED_MIB = 16;
/** The numbered-block writer's first block (4 KiB blocks, 32 MiB into namespace 1). */
const SEQ_FIRST_BLOCK = 8192;
const stamp = `p2pkit-pmr-before-kill-${process.pid}`;

/** `./bar-rw` installed, `$B` the controller's address; the nvme driver must not hold the BARs. */
const withBar = (script: string) => `${installTool('bar-rw')}; B=$(lspci -D -n -d 1b36:00f4 | cut -d" " -f1); ${script}`;

/** A server process; resolves once it listens. `commands()` is the last I/O command count it printed. */
function startServer(dir: string, socket: string): Promise<{ child: ChildProcess; commands: () => number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=source', SERVER, dir, socket], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let commands = 0;
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout?.on('data', (b: Buffer) => {
      buf += b.toString();
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const line of lines) {
        const msg = JSON.parse(line) as { event: string; commands?: number };
        if (msg.event === 'ready') resolve({ child, commands: () => commands });
        if (msg.event === 'stats') commands = msg.commands ?? 0;
      }
    });
    child.on('exit', (code, signal) => reject(new Error(`the server process exited (${code ?? signal}) before it was ready`)));
  });
}

/** The last block number in the writer's log: -1 before the first. A line cut short has no newline and does not count. */
function lastLogged(log: string): number {
  const lines = log.split('\n');
  return lines.length > 1 ? Number(lines[lines.length - 2]) : -1;
}

/** The writer's log while its job runs (or after QEMU died): `acked.log` of the job, in the 9p share. */
function ackedLogInShare(runDir: string): string {
  const jobs = join(runDir, 'share', 'jobs');
  if (!existsSync(jobs)) return '';
  const log = readdirSync(jobs)
    .map((id) => join(jobs, id, 'out', 'acked.log'))
    .find((p) => existsSync(p));
  return log ? readFileSync(log, 'utf8') : '';
}

function readImage(path: string, offset: number, bytes: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(bytes);
    let at = 0;
    while (at < bytes) {
      const n = readSync(fd, b, at, bytes - at, offset + at);
      if (n <= 0) break;
      at += n;
    }
    return b;
  } finally {
    closeSync(fd);
  }
}

describe('fault injection: the server killed during writes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'p2pkit-e2e-server-kill-'));
  const socket = join(dir, 'nvme0.sock');
  const shape = topology().rootPort('rp0', (rp) =>
    rp.switch('sw0', (sw) => sw.downstream('dn0').attach(vfioUser({ socket, id: 'nvme0' }))),
  );
  const servers: ChildProcess[] = [];
  const guests: Guest[] = [];
  // Short I/O timeout: after the kill the guest's driver gives up on the dead controller sooner.
  const bootOptions = { cpus: 2, kernelArgs: ['nvme_core.io_timeout=10'] };

  afterAll(async () => {
    for (const g of guests) await g.shutdown();
    for (const s of servers) if (s.exitCode === null && s.signalCode === null) s.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('SIGKILL mid-write, restart: completed writes on disk, ext4 clean after replay, PMR intact', async () => {
    const provisioned = await provision();
    const first = await startServer(dir, socket);
    servers.push(first.child);
    // 1. Before the nvme driver binds (it claims the BARs): PMR enabled, a stamp stored through BAR4.
    const g1 = await boot(shape, { provisioned, modules: [], ...bootOptions });
    guests.push(g1);
    const pmr = await g1.run(
      withBar(`echo 1 > /sys/bus/pci/devices/$B/enable
       ./bar-rw $B 0 write32 0xe04 1
       ./bar-rw $B 4 write 8192 ${stamp}
       ./bar-rw $B 4 read 8192 ${stamp.length}`),
      { files: { 'bar-rw': barTool }, timeoutMs: 60_000 },
    );
    expect(pmr.exitCode, pmr.stderr).toBe(0);
    expect(kv(pmr.stdout).text).toBe(stamp);

    // 2. The driver binds; a flushed pattern on namespace 1, a synced file on ext4 on namespace 2.
    const setup = await g1.run(
      `set -e
       modprobe nvme
       for i in $(seq 60); do nvme_ns_by_serial P2PKIT-SK 2 > /dev/null 2>&1 && break; sleep 1; done
       d=$(nvme_ns_by_serial P2PKIT-SK); d2=$(nvme_ns_by_serial P2PKIT-SK 2)
       head -c ${FLUSHED_MIB}M /dev/urandom > /tmp/pattern
       dd if=/tmp/pattern of=$d bs=1M oflag=direct conv=fsync status=none
       echo "flushed=$(md5sum < /tmp/pattern | cut -d' ' -f1)"
       mkfs.ext4 -q -F $d2
       mkdir -p /mnt/ext; mount $d2 /mnt/ext
       head -c 8M /dev/urandom > /mnt/ext/kept; sync
       echo "kept=$(md5sum < /mnt/ext/kept | cut -d' ' -f1)"`,
      { timeoutMs: 180_000 },
    );
    expect(setup.exitCode, `${setup.stdout}\n${setup.stderr}`).toBe(0);
    const { flushed, kept } = kv(setup.stdout);

    // 3. Writes everywhere: fio on namespace 1, a big copy into ext4, and a writer that numbers
    // 4 KiB blocks and appends each one the kernel reported complete to a log in the 9p share (on
    // the host as soon as it is written: QEMU 11.1.3 may abort when its vfio-user server dies with
    // requests in flight — `error_setv: Assertion '*errp == NULL' failed` — and take the job with it).
    const writing = g1
      .run(
        `d=$(nvme_ns_by_serial P2PKIT-SK)
         fio --name=busy --filename=$d --direct=1 --ioengine=libaio --iodepth=16 --rw=randwrite --bs=4k \\
             --offset=64M --size=128M --time_based --runtime=300 > /dev/null 2>&1 & fio_pid=$!
         dd if=/dev/urandom of=/mnt/ext/big bs=1M count=96 status=none 2>/dev/null & copy_pid=$!
         i=0
         while [ $i -lt 20000 ]; do
           printf 'p2pkit-block-%08d' $i | dd of=$d bs=4096 seek=$((${SEQ_FIRST_BLOCK} + i)) conv=sync oflag=direct status=none 2>/dev/null || break
           echo $i >> $JOB_OUT/acked.log
           i=$((i + 1))
         done
         kill $fio_pid $copy_pid 2>/dev/null; exit 0`,
        { timeoutMs: 300_000 },
      )
      .catch((e: unknown) => (e instanceof Error ? e : new Error(String(e))));
    const start = first.commands();
    const deadline = Date.now() + 180_000;
    const busy = () => first.commands() - start >= 3000 && lastLogged(ackedLogInShare(g1.runDir)) >= 20;
    while (!busy() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(first.commands() - start, 'I/O commands seen by the server before the kill').toBeGreaterThanOrEqual(3000);
    const ackedAtKill = lastLogged(ackedLogInShare(g1.runDir));
    first.child.kill('SIGKILL');
    const job = await writing;
    const qemu = await Promise.race([
      g1.exited.then((code) => `QEMU exited (${code ?? g1.process.signalCode})`),
      new Promise<string>((r) => setTimeout(() => r('QEMU stayed up'), 5_000)),
    ]);
    const acked = lastLogged(job instanceof Error ? ackedLogInShare(g1.runDir) : (job.files.get('acked.log')?.toString() ?? ''));
    console.info(
      `server killed after ${first.commands() - start} I/O commands; ${acked + 1} numbered blocks acknowledged; ` +
        `${qemu}; writer job: ${job instanceof Error ? job.message : 'finished'}`,
    );
    expect(acked, 'numbered blocks acknowledged (at least those logged when the server was killed)').toBeGreaterThanOrEqual(ackedAtKill);
    expect(ackedAtKill).toBeGreaterThanOrEqual(20);
    await g1.shutdown();

    // 4. On the host, before anything restarts: the images hold what the guest saw complete.
    const ns1 = join(dir, 'ns1.img');
    expect(
      createHash('md5')
        .update(readImage(ns1, 0, FLUSHED_MIB << 20))
        .digest('hex'),
    ).toBe(flushed);
    for (let i = 0; i <= acked; i++) {
      const block = readImage(ns1, (SEQ_FIRST_BLOCK + i) * 4096, 21).toString();
      expect(block, `numbered block ${i} of ${acked}`).toBe(`p2pkit-block-${String(i).padStart(8, '0')}`);
    }
    expect(readImage(join(dir, 'pmr.bin'), 8192, stamp.length).toString()).toBe(stamp);

    // 5. A new server from the same files and a new QEMU: the guest reads it all back.
    rmSync(socket, { force: true });
    const second = await startServer(dir, socket);
    servers.push(second.child);
    const g2 = await boot(shape, { provisioned, waitForNvme: 2, ...bootOptions });
    guests.push(g2);
    const check = await g2.run(
      `set -e
       d=$(nvme_ns_by_serial P2PKIT-SK); d2=$(nvme_ns_by_serial P2PKIT-SK 2)
       echo "flushed=$(dd if=$d bs=1M count=${FLUSHED_MIB} iflag=direct status=none | md5sum | cut -d' ' -f1)"
       echo "last=$(dd if=$d bs=4096 skip=$((${SEQ_FIRST_BLOCK} + ${acked})) count=1 iflag=direct status=none | head -c 21)"
       mkdir -p /mnt/ext; mount $d2 /mnt/ext
       echo "kept=$(md5sum < /mnt/ext/kept | cut -d' ' -f1)"
       umount /mnt/ext
       e2fsck -fn $d2 > $JOB_OUT/fsck.txt 2>&1 && fsck=0 || fsck=$?; echo "fsck=$fsck"
       B=$(basename $(readlink -f /sys/class/nvme/$(nvme_ctrl_by_serial P2PKIT-SK)/device))
       echo $B > /sys/bus/pci/drivers/nvme/unbind
       ${withBar(`./bar-rw $B 0 write32 0xe04 1; ./bar-rw $B 4 read 8192 ${stamp.length}`)}`,
      { files: { 'bar-rw': barTool }, timeoutMs: 180_000 },
    );
    expect(check.exitCode, `${check.stdout}\n${check.stderr}`).toBe(0);
    const seen = kv(check.stdout);
    expect(seen.flushed).toBe(flushed);
    expect(seen.last).toBe(`p2pkit-block-${String(acked).padStart(8, '0')}`);
    expect(seen.kept).toBe(kept);
    expect(seen.fsck, (check.files.get('fsck.txt') as Buffer | undefined)?.toString()).toBe('0');
    expect(seen.text).toBe(stamp);
  });
});
