/**
 * `p2pkit serve` as a separate process, attached to a QEMU started here from the arguments it
 * printed — not through the testbed's boot(): the provisioned QEMU binary gets serve's arguments
 * plus kernel, initramfs, root image and the guest agent's channel (a 9p share and a virtio-serial
 * port, spoken to directly below). The guest's stock nvme driver must bind both controllers and
 * publish the CMBs as p2pmem; SIGINT must then stop serve cleanly.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { provision } from '@p2pkit/testbed';
import { afterAll, expect, it } from 'vitest';

const BIN = join(import.meta.dirname, '../../packages/cli/bin/p2pkit.js');
const dir = mkdtempSync(join(tmpdir(), 'p2pkit-e2e-serve-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** Resolves with the first stdout line of `child` that parses as JSON with `event: 'ready'`. */
function readyLine(child: ChildProcess): Promise<{ args: string[]; qemu: { binary: string }; devices: { id: string; socket: string }[] }> {
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout?.on('data', (b: Buffer) => {
      buf += b.toString();
      for (const line of buf.split('\n').slice(0, -1)) if (line.includes('"event":"ready"')) resolve(JSON.parse(line));
    });
    child.on('exit', (code) => reject(new Error(`p2pkit serve exited (${code}) before it was ready`)));
  });
}

/** The guest agent's line protocol (packages/testbed/guest/agent.sh), spoken directly: READY, RUN, DONE. */
function agentChannel(path: string) {
  let socket: Socket | undefined;
  let text = '';
  const waiters: { re: RegExp; resolve: (m: RegExpExecArray) => void }[] = [];
  const server = createServer((s) => {
    socket = s;
    s.on('data', (b) => {
      text += b.toString();
      for (const w of [...waiters]) {
        const m = w.re.exec(text);
        if (m) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(m);
        }
      }
    });
  }).listen(path);
  const wait = (re: RegExp, ms: number) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const m = re.exec(text);
      if (m) return resolve(m);
      waiters.push({ re, resolve });
      setTimeout(() => reject(new Error(`no ${re} from the guest agent within ${ms} ms`)), ms).unref();
    });
  return { wait, send: (line: string) => socket?.write(`${line}\n`), close: () => server.close() };
}

it('serves two NVMe with a CMB below one switch to a QEMU started from the printed arguments; the guest publishes both CMBs', async () => {
  const p = await provision();
  const serve = spawn(
    process.execPath,
    [BIN, 'serve', 'nvme:cmb=64M,ns=256M', 'nvme:cmb=64M,ns=256M', '--dir', join(dir, 'serve'), '--json'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  children.push(serve);
  const ready = await readyLine(serve);
  expect(ready.args).toContain('memory-backend-memfd,id=mem,size=1G,share=on');
  expect(ready.args.filter((a) => a.startsWith('{"driver":"vfio-user-pci"'))).toHaveLength(2);
  expect(ready.args).toContain('x3130-upstream,id=sw0,bus=rp0');
  for (const d of ready.devices) expect(existsSync(d.socket)).toBe(true);

  const share = join(dir, 'share');
  mkdirSync(join(share, 'jobs', '1', 'in'), { recursive: true });
  const agent = agentChannel(join(dir, 'ctl.sock'));
  const qemu = spawn(
    ready.qemu.binary,
    [
      ...ready.args,
      ...['-accel', 'tcg', '-smp', '2', '-nographic', '-no-reboot', '-nic', 'none'],
      ...[
        '-kernel',
        p.kernel.vmlinuz,
        '-initrd',
        p.guest.initramfs,
        '-append',
        'console=ttyS0 quiet panic=-1 p2pkit.modules=nvme p2pkit.nvmes=2',
      ],
      ...['-drive', `file=${p.guest.rootImage},if=virtio,format=raw,snapshot=on`],
      ...['-fsdev', `local,id=fs0,path=${share},security_model=none`, '-device', 'virtio-9p-pci,fsdev=fs0,mount_tag=p2pkit'],
      ...[
        '-chardev',
        `socket,id=ctl,path=${join(dir, 'ctl.sock')}`,
        '-device',
        'virtio-serial-pci,id=ser0',
        '-device',
        'virtserialport,bus=ser0.0,chardev=ctl,name=p2pkit.ctl',
      ],
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TMPDIR: dir } },
  );
  children.push(qemu);
  let console_ = '';
  qemu.stdout?.on('data', (b: Buffer) => {
    console_ += b.toString();
  });
  qemu.stderr?.on('data', (b: Buffer) => {
    console_ += b.toString();
  });
  try {
    await agent.wait(/READY /, 180_000);
    writeFileSync(
      join(share, 'jobs', '1', 'script.sh'),
      `for d in /sys/bus/pci/devices/*; do
         [ "$(cat $d/vendor):$(cat $d/device)" = 0x1b36:0x00f4 ] || continue
         echo "$(basename $d) driver=$(basename "$(readlink $d/driver)") published=$(cat $d/p2pmem/published 2>/dev/null) size=$(cat $d/p2pmem/size 2>/dev/null)"
       done`,
    );
    agent.send('RUN 1 60');
    const done = await agent.wait(/DONE 1 (\d+)/, 90_000);
    const out = readFileSync(join(share, 'jobs', '1', 'stdout'), 'utf8');
    console.info(`[serve] guest saw:\n${out}`);
    expect(done[1]).toBe('0');
    const lines = out.trim().split('\n');
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(l).toMatch(/^0000:[0-9a-f]{2}:00\.0 driver=nvme published=1 size=67108864$/);
    agent.send('POWEROFF');
    await new Promise((r) => qemu.once('exit', r));
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- QEMU console (tail) ---\n${console_.split('\n').slice(-30).join('\n')}`);
  } finally {
    agent.close();
  }

  // Ctrl-C: sockets removed, namespace images flushed (kept: --dir was given), exit 0.
  serve.kill('SIGINT');
  const code = await new Promise<number | null>((r) => serve.once('exit', (c) => r(c)));
  expect(code).toBe(0);
  for (const d of ready.devices) expect(existsSync(d.socket)).toBe(false);
  expect(existsSync(join(dir, 'serve', 'nvme0-ns1.img'))).toBe(true);
});
