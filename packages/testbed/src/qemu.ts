/**
 * Boot a TCG guest for a topology description (`@p2pkit/fabric`'s `topology()`, the same one the
 * fabric model reads) and hand back a {@link Guest} (`await using guest = await boot(t)`).
 *
 * Machine: q35, `-accel tcg`, shared memfd RAM, `-nographic -no-reboot -nic none`, the sid kernel
 * with our initramfs, the Debian root image as a throw-away snapshot (virtio-blk), a 9p share and a
 * virtio-serial control port for jobs. Console goes to `console.log` in the run folder.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, open, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TopologyBuilder, type TopologyDescription } from '@p2pkit/fabric';
import { ControlChannel } from './control-channel.ts';
import { GuestRunner, type JobResult, type RunJobOptions } from './guest-runner.ts';
import { type Provisioned, provision } from './provision/index.ts';
import { type PlacedDevice, planTopology } from './qemu-args.ts';

/** Options of {@link boot}. */
export interface BootOptions {
  /** Result of `provision()`; provisioned (usually from cache) when omitted. */
  provisioned?: Provisioned;
  /** Guest RAM in MiB, a shared memfd (default 1024). */
  memoryMiB?: number;
  /** vCPUs (default 2). */
  cpus?: number;
  /** `-cpu` model; default QEMU's `qemu64` (an Intel-like family 15: root-bus p2p is refused). */
  cpu?: string;
  /** Modules the agent loads before reporting ready (default `['nvme']`; `[]` to touch BARs first). */
  modules?: readonly string[];
  /**
   * NVMe namespaces to wait for before ready (default: number of QEMU NVMe devices if `nvme` is
   * loaded; p2pkit NVMe devices are not counted, the testbed cannot tell what a vfio-user device is).
   */
  waitForNvme?: number;
  /** Extra kernel command line words. */
  kernelArgs?: readonly string[];
  /** Extra QEMU arguments (appended). */
  extraArgs?: readonly string[];
  /** Kill QEMU if the agent is not ready within this time (default 300 s: a TCG boot takes ~10 s idle, but a 2-core machine running other guests and test workers stretched one past 120 s). */
  bootTimeoutMs?: number;
  /** Hard cap on the guest's life; QEMU is killed afterwards (default 30 min). */
  lifetimeMs?: number;
  /** Run folder for logs, share and disks (default `<cache>/runs/<timestamp>-<pid>-<n>`). */
  runDir?: string;
  /** Called with every console line (e.g. to echo the guest while debugging). */
  onConsole?: (line: string) => void;
}

/** Raised when QEMU fails to start or the guest never becomes ready. */
export class BootError extends Error {
  override name = 'BootError';
}

let bootCounter = 0;
const RUNS_KEPT = 20;

/** A running guest. Dispose it (`await using`) to power it off and clean up. */
export class Guest implements AsyncDisposable {
  #disposed = false;
  readonly #lifetime: NodeJS.Timeout;
  readonly #onExit = (): void => {
    this.process.kill('SIGKILL');
  };

  /** @internal use {@link boot}. */
  constructor(
    /** The description this guest was booted from. */
    readonly topology: TopologyDescription,
    /** Devices with their QEMU ids, buses and images. */
    readonly devices: readonly PlacedDevice[],
    readonly runDir: string,
    readonly process: ChildProcess,
    readonly exited: Promise<number | null>,
    private readonly channel: ControlChannel,
    private readonly runner: GuestRunner,
    private readonly cleanupPaths: readonly string[],
    /** Host milliseconds from QEMU spawn to the agent's READY. */
    readonly bootMs: number,
    /** Guest uptime (s) at READY, as reported by the guest. */
    readonly guestUptimeAtReady: number,
    lifetimeMs: number,
  ) {
    this.#lifetime = setTimeout(() => this.kill(), lifetimeMs);
    this.#lifetime.unref();
    globalThis.process.on('exit', this.#onExit); // never leave QEMU behind if the host process exits
  }

  /** Path of the serial console log. */
  get consoleLogPath(): string {
    return join(this.runDir, 'console.log');
  }

  /** Everything the guest printed on its serial console so far. */
  consoleLog(): string {
    return existsSync(this.consoleLogPath) ? readFileSync(this.consoleLogPath, 'utf8') : '';
  }

  /** The guest kernel log, read with `dmesg` inside the guest. */
  dmesg(): Promise<string> {
    return this.runner.dmesg();
  }

  /** Run a shell script in the guest; see {@link RunJobOptions} and {@link JobResult}. */
  run(script: string, options?: RunJobOptions): Promise<JobResult> {
    if (this.#disposed) return Promise.reject(new Error('guest is shut down'));
    return this.runner.run(script, options);
  }

  /** Kill QEMU immediately (SIGKILL). */
  kill(): void {
    if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill('SIGKILL');
  }

  /** Power off (agent `poweroff -f`), escalate to SIGTERM/SIGKILL, and delete sockets, share and disks. */
  async shutdown(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    clearTimeout(this.#lifetime);
    try {
      if (this.process.exitCode === null) {
        try {
          this.channel.send('POWEROFF');
        } catch {
          /* channel gone: fall through to signals */
        }
        if (!(await exitsWithin(this.exited, 5_000))) {
          this.process.kill('SIGTERM');
          if (!(await exitsWithin(this.exited, 3_000))) {
            this.process.kill('SIGKILL');
            await this.exited;
          }
        }
      }
    } finally {
      globalThis.process.off('exit', this.#onExit);
      this.channel.close();
      for (const p of this.cleanupPaths) await rm(p, { recursive: true, force: true });
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }
}

async function exitsWithin(exited: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((r) => {
    timer = setTimeout(() => r(false), ms);
  });
  const ok = await Promise.race([exited.then(() => true), timeout]);
  clearTimeout(timer);
  return ok;
}

/** Build the QEMU argv (without the binary) for a boot; exported for inspection and tests. */
export function qemuArgv(
  p: Provisioned,
  topologyArgs: readonly string[],
  o: {
    memoryMiB: number;
    cpus: number;
    cpu?: string;
    append: string;
    shareDir: string;
    ctlSocket: string;
    extra: readonly string[];
  },
): string[] {
  return [
    '-accel',
    'tcg',
    '-machine',
    'q35,memory-backend=mem',
    '-object',
    `memory-backend-memfd,id=mem,size=${o.memoryMiB}M,share=on`,
    '-m',
    `${o.memoryMiB}M`,
    '-smp',
    String(o.cpus),
    ...(o.cpu ? ['-cpu', o.cpu] : []),
    '-nographic',
    '-no-reboot',
    '-nic',
    'none',
    '-kernel',
    p.kernel.vmlinuz,
    '-initrd',
    p.guest.initramfs,
    '-append',
    o.append,
    '-drive',
    `file=${p.guest.rootImage},if=virtio,format=raw,snapshot=on`,
    '-fsdev',
    `local,id=p2pkitfs,path=${o.shareDir},security_model=none`,
    '-device',
    'virtio-9p-pci,fsdev=p2pkitfs,mount_tag=p2pkit',
    '-chardev',
    `socket,id=p2pkitctl,path=${o.ctlSocket}`,
    '-device',
    'virtio-serial-pci,id=p2pkitser',
    '-device',
    'virtserialport,bus=p2pkitser.0,chardev=p2pkitctl,name=p2pkit.ctl',
    ...topologyArgs,
    ...o.extra,
  ];
}

async function newRunDir(runsDir: string): Promise<string> {
  await mkdir(runsDir, { recursive: true });
  const old = (await readdir(runsDir)).sort();
  for (const d of old.slice(0, Math.max(0, old.length - RUNS_KEPT))) await rm(join(runsDir, d), { recursive: true, force: true });
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
  return join(runsDir, `${stamp}-${process.pid}-${bootCounter++}`);
}

/**
 * Boot `topo` and wait until the guest agent is ready to run jobs. Every vfio-user endpoint must
 * have its socket (a testbed `Rig` fills them in: `boot(rig.topology)`), and its server must listen.
 */
export async function boot(topo: TopologyDescription | TopologyBuilder, options: BootOptions = {}): Promise<Guest> {
  const topology = topo instanceof TopologyBuilder ? topo.build() : topo;
  const p = options.provisioned ?? (await provision());
  const runDir = options.runDir ?? (await newRunDir(p.runsDir));
  const shareDir = join(runDir, 'share');
  const diskDir = join(runDir, 'disks');
  const plan = planTopology(topology, diskDir);
  for (const { endpoint } of plan.devices) {
    if (endpoint.device.kind === 'vfio-user' && !existsSync(endpoint.device.socket ?? '')) {
      throw new BootError(
        `vfio-user server socket ${endpoint.device.socket} (device ${endpoint.id}) does not exist: start the server before boot()`,
      );
    }
  }
  await mkdir(join(shareDir, 'jobs'), { recursive: true }); // creates runDir too
  await mkdir(diskDir, { recursive: true });
  // UNIX socket paths are limited to 108 bytes.
  const sockDir = join(runDir, 'ctl.sock').length < 100 ? runDir : mkdtempSync(join(tmpdir(), 'p2pkit-'));
  const ctlSocket = join(sockDir, 'ctl.sock');
  const cleanup = [shareDir, diskDir, ctlSocket, ...(sockDir === runDir ? [] : [sockDir])];
  for (const d of plan.devices) {
    const device = d.endpoint.device;
    if (device.kind === 'qemu-nvme' && d.ownsImage && d.image) {
      const fh = await open(d.image, 'w');
      await fh.truncate(device.sizeMiB * 1024 * 1024);
      await fh.close();
    }
  }

  const modules = options.modules ?? ['nvme'];
  const nvmes =
    options.waitForNvme ?? (modules.includes('nvme') ? plan.devices.filter((d) => d.endpoint.device.kind === 'qemu-nvme').length : 0);
  const append = [
    'console=ttyS0',
    'quiet',
    'panic=-1',
    `p2pkit.modules=${modules.join(',')}`,
    `p2pkit.nvmes=${nvmes}`,
    ...(options.kernelArgs ?? []),
  ].join(' ');

  const channel = await ControlChannel.listen(ctlSocket);
  const argv = qemuArgv(p, plan.args, {
    memoryMiB: options.memoryMiB ?? 1024,
    cpus: options.cpus ?? 2,
    append,
    shareDir,
    ctlSocket,
    extra: options.extraArgs ?? [],
    ...(options.cpu ? { cpu: options.cpu } : {}),
  });
  const consoleLog = createWriteStream(join(runDir, 'console.log'));
  const qemuLog = createWriteStream(join(runDir, 'qemu.log'));
  qemuLog.write(`${[p.qemu.binary, ...argv].map((a) => (/[\s"{]/.test(a) ? `'${a}'` : a)).join(' ')}\n\n`);

  const t0 = performance.now();
  const child = spawn(p.qemu.binary, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TMPDIR: diskDir } });
  let partial = '';
  child.stdout.on('data', (b: Buffer) => {
    consoleLog.write(b);
    if (!options.onConsole) return;
    partial += b.toString('utf8');
    const lines = partial.split(/\r?\n/);
    partial = lines.pop() ?? '';
    for (const l of lines) options.onConsole(l);
  });
  child.stderr.on('data', (b: Buffer) => qemuLog.write(b));
  const exited = new Promise<number | null>((resolve) => {
    child.on('close', (code) => {
      consoleLog.end();
      qemuLog.end();
      resolve(code);
    });
    child.on('error', (e) => {
      qemuLog.write(`spawn error: ${e.message}\n`);
      resolve(null);
    });
  });
  const exitedReject: Promise<never> = exited.then((code) => {
    throw new BootError(`QEMU exited (code ${code})`);
  });
  exitedReject.catch(() => {});

  let uptime: number;
  try {
    uptime = await channel.waitReady(options.bootTimeoutMs ?? 300_000, exitedReject);
  } catch (e) {
    const selfExit = await exitsWithin(exited, 500);
    child.kill('SIGKILL');
    const code = await exited;
    const why = selfExit ? `QEMU exited (code ${code}) before the guest was ready` : (e as Error).message;
    channel.close();
    for (const c of cleanup) rmSync(c, { recursive: true, force: true });
    const log = (f: string): string => (existsSync(join(runDir, f)) ? readFileSync(join(runDir, f), 'utf8') : '');
    throw new BootError(
      `guest did not become ready: ${why}\n--- qemu.log (tail) ---\n${tailOf(log('qemu.log'), 15)}\n--- console (tail) ---\n${tailOf(log('console.log'), 30)}\nrun folder: ${runDir}`,
      { cause: e },
    );
  }
  const bootMs = performance.now() - t0;
  const runner = new GuestRunner(shareDir, channel, exitedReject);
  return new Guest(
    topology,
    plan.devices,
    runDir,
    child,
    exited,
    channel,
    runner,
    cleanup,
    bootMs,
    uptime,
    options.lifetimeMs ?? 1_800_000,
  );
}

function tailOf(text: string, n: number): string {
  return text.trimEnd().split('\n').slice(-n).join('\n');
}
