/**
 * Structure-aware fuzzer of the vfio-user server (serving a real NVMe endpoint): every command kind
 * with mutated sizes, counts, offsets and flags, fds where none belong (memfds, eventfds, a FIFO,
 * /dev/null, a regular file), truncated and padded payloads, huge (≥ 4 GiB) values in 64-bit fields,
 * duplicate message ids, DMA_MAP/UNMAP of every size and fd kind (tiny memfd, sparse 16 GiB memfd,
 * eventfd), SET_IRQS with bogus counts. After each step a well-formed DEVICE_GET_INFO probe must be
 * answered, and every request that wants a reply must have had exactly one.
 *
 * Findings: a crash (the server process died — socket variant, server in a child process — or an
 * exception escaped), a hang (no probe reply within the deadline), a reply count mismatch, a
 * `device` log line (a handler threw: a server bug), an fd leak after the run.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '@p2pkit/base';
import { closeFd, EventFd, openFdCount, SharedMemory } from '@p2pkit/native';
import { createNvme, type NvmeDevice } from '@p2pkit/nvme';
import { MemoryTransport, SocketTransport, type Transport, VfioUserServer } from '@p2pkit/vfio-user';
import { Command, codec, HeaderFlags, type Message } from '@p2pkit/vfio-user/internal';
import { Prng } from './prng.ts';

export interface VfioUserFuzzOptions {
  steps: number;
  seed: number;
  /** 'memory': server in this process over MemoryTransport. 'socket': server in a child process on a UNIX socket. */
  transport: 'memory' | 'socket';
  /** Probe reply deadline; default 5000 ms. */
  deadlineMs?: number;
  /** Called every `progressEvery` steps. */
  onProgress?: (step: number) => void;
  progressEvery?: number;
  /** Probability that a step sends 2–7 messages before its probe instead of one; default 0.1. */
  burstChance?: number;
  /** Checked before each step: stop early (the summary covers the steps done). */
  stop?: () => boolean;
}

export interface FuzzFinding {
  kind: 'crash' | 'hang' | 'reply-mismatch' | 'device-error' | 'fd-leak';
  step: number;
  detail: string;
}

export interface VfioUserFuzzSummary {
  transport: string;
  seed: number;
  steps: number;
  messages: number;
  crashes: number;
  hangs: number;
  findings: FuzzFinding[];
  disconnects: number;
  /** Reply outcomes seen: 'ok' or an errno name → count. */
  outcomes: Record<string, number>;
  commands: Record<string, number>;
  ms: number;
}

const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM',
  2: 'ENOENT',
  5: 'EIO',
  7: 'E2BIG',
  9: 'EBADF',
  12: 'ENOMEM',
  14: 'EFAULT',
  16: 'EBUSY',
  17: 'EEXIST',
  19: 'ENODEV',
  22: 'EINVAL',
  28: 'ENOSPC',
  34: 'ERANGE',
  38: 'ENOSYS',
  71: 'EPROTO',
  75: 'EOVERFLOW',
  95: 'ENOTSUP',
  110: 'ETIMEDOUT',
};
const errnoName = (e: number) => ERRNO_NAMES[e] ?? `errno ${e}`;

/** A counting logger: the fuzzer cannot keep millions of lines; it keeps the first device lines. */
function countingLogger(): Logger & { counts: Record<string, number>; deviceLines: string[] } {
  const counts: Record<string, number> = { guest: 0, client: 0, device: 0, info: 0 };
  const deviceLines: string[] = [];
  const rec = (ch: string) => (m: string, d?: Record<string, unknown>) => {
    counts[ch] = (counts[ch] ?? 0) + 1;
    if (ch === 'device' && deviceLines.length < 20)
      deviceLines.push(`${m}${d ? ` ${JSON.stringify(d, (_k, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v))}` : ''}`);
  };
  return { counts, deviceLines, guest: rec('guest'), client: rec('client'), device: rec('device'), info: rec('info') };
}

/** The device under test: an NVMe endpoint with a small namespace, a CMB and a PMR. */
export async function fuzzTargetNvme(directory: string, logger: Logger): Promise<NvmeDevice> {
  return createNvme(
    {
      serial: 'FUZZ0001',
      namespaces: [{ path: join(directory, 'ns1.raw'), sizeBytes: 1 << 20 }],
      pmr: { path: join(directory, 'pmr.bin'), size: 1 << 20 },
    },
    { logger: { deviceError: (e, where) => logger.device(`${where}: ${String(e)}`), guestError: (m, d) => logger.guest(m, d) } },
  );
}

/** fds of every kind, owned by the fuzzer for the whole run (transports dup what they send). */
class FdPool {
  readonly tinyMemfd = SharedMemory.create('fuzz-tiny', 4096);
  readonly bigMemfd = SharedMemory.create('fuzz-16g', 4096);
  readonly eventfds = Array.from({ length: 4 }, () => EventFd.create());
  readonly fifo: number;
  readonly file: number;
  readonly devNull = openSync('/dev/null', 'r+');
  readonly dir: string;

  constructor() {
    ftruncateSync(this.bigMemfd.fd.fd, 16 * 2 ** 30);
    this.dir = mkdtempSync(join(tmpdir(), 'p2pkit-fuzz-fds-'));
    const fifoPath = join(this.dir, 'fifo');
    execFileSync('mkfifo', [fifoPath]);
    this.fifo = openSync(fifoPath, 'r+'); // O_RDWR: does not block on Linux
    this.file = openSync(join(this.dir, 'file'), 'w+');
  }

  any(rng: Prng): number {
    return rng.pick([this.tinyMemfd.fd.fd, this.bigMemfd.fd.fd, (this.eventfds[0] as EventFd).fd, this.fifo, this.file, this.devNull]);
  }

  close(): void {
    this.tinyMemfd.close();
    this.bigMemfd.close();
    for (const e of this.eventfds) e.close();
    closeSync(this.fifo);
    closeSync(this.file);
    closeSync(this.devNull);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

interface Built {
  command: number;
  payload: Uint8Array;
  fds: number[];
}

const SUPPORTED = [
  Command.VERSION,
  Command.DMA_MAP,
  Command.DMA_MAP,
  Command.DMA_UNMAP,
  Command.DEVICE_GET_INFO,
  Command.DEVICE_GET_REGION_INFO,
  Command.DEVICE_GET_IRQ_INFO,
  Command.DEVICE_SET_IRQS,
  Command.DEVICE_SET_IRQS,
  Command.REGION_READ,
  Command.REGION_READ,
  Command.REGION_WRITE,
  Command.REGION_WRITE,
  Command.REGION_WRITE,
  Command.REGION_WRITE_MULTI,
  Command.DEVICE_RESET,
];
const DMA_BASES = [0n, 0x1000n, 0x10_0000n, 0xfee0_0000n, 1n << 32n, (1n << 32n) - 0x1000n, 1n << 40n, (1n << 64n) - 0x1000n];

/** Builds one structurally plausible command with mutated fields. */
function build(rng: Prng, fds: FdPool, maxFds: number): Built {
  const cmd = rng.chance(0.03) ? rng.int(0x10000) : rng.chance(0.2) ? rng.pick(Object.values(Command)) : rng.pick(SUPPORTED);
  const u64 = () => rng.interesting(64);
  const u32 = () => Number(rng.interesting(32));
  const size = () => rng.pick([0n, 1n, 0x1000n, 0x2000n, 0x10_0000n, 1n << 32n, 16n << 30n, 17n << 30n, u64()]);
  const someFds = (n: number) => Array.from({ length: n }, () => fds.any(rng));
  switch (cmd) {
    case Command.VERSION: {
      const caps = rng.pick<Record<string, unknown>>([
        { max_msg_fds: 16, max_data_xfer_size: 1 << 20 },
        { max_data_xfer_size: rng.pick([0, 1, -1, 2 ** 53, 4096, 'x']) },
        { migration: { pgsize: u32() } },
        {},
      ]);
      let payload: Uint8Array = codec.encodeVersion({
        major: rng.chance(0.9) ? 0 : rng.int(0x10000),
        minor: rng.int(0x10000),
        capabilities: caps,
      });
      if (rng.chance(0.2))
        payload = Buffer.concat([
          payload.subarray(0, 4),
          Buffer.from(rng.pick(['{', '{"capabilities":', 'null\0', '[]\0', '\0', '{"capabilities":[1,2]}'])),
        ]);
      return { command: cmd, payload, fds: rng.chance(0.05) ? someFds(1) : [] };
    }
    case Command.DMA_MAP: {
      const kind = rng.int(6);
      const fdList =
        kind === 0
          ? []
          : kind === 1
            ? [fds.tinyMemfd.fd.fd]
            : kind === 2
              ? [fds.bigMemfd.fd.fd]
              : kind === 3
                ? [(fds.eventfds[0] as EventFd).fd]
                : kind === 4
                  ? someFds(1)
                  : someFds(2 + rng.int(3));
      const address = BigInt.asUintN(
        64,
        rng.chance(0.8) ? rng.pick(DMA_BASES) + BigInt(rng.int(4)) * 0x1000n + (rng.chance(0.05) ? 1n : 0n) : u64(),
      );
      const flags = rng.chance(0.8) ? rng.pick([1, 2, 3]) : u32();
      return {
        command: cmd,
        payload: codec.encodeDmaMap({ flags, offset: rng.chance(0.7) ? 0n : size(), address, size: size() }),
        fds: fdList,
      };
    }
    case Command.DMA_UNMAP: {
      const all = rng.chance(0.1);
      const address = all ? 0n : rng.chance(0.8) ? rng.pick(DMA_BASES) : u64();
      const flags = all ? 2 : rng.chance(0.9) ? 0 : u32();
      return {
        command: cmd,
        payload: codec.encodeDmaUnmap({ flags, address, size: all ? 0n : size() }),
        fds: rng.chance(0.05) ? someFds(1) : [],
      };
    }
    case Command.DEVICE_GET_INFO:
    case Command.DEVICE_GET_REGION_IO_FDS: {
      const b = Buffer.alloc(rng.pick([0, 4, 8, 16, 32]));
      if (b.length >= 4) b.writeUInt32LE(rng.pick([0, 4, 15, 16, 32, u32()]), 0);
      if (b.length >= 8) b.writeUInt32LE(u32(), 4);
      return { command: cmd, payload: b, fds: rng.chance(0.05) ? someFds(1 + rng.int(3)) : [] };
    }
    case Command.DEVICE_GET_REGION_INFO:
    case Command.DEVICE_GET_IRQ_INFO: {
      const b = Buffer.alloc(rng.pick([8, 16, 32]));
      b.writeUInt32LE(rng.pick([0, 16, 31, 32, 64, u32()]), 0);
      b.writeUInt32LE(rng.chance(0.8) ? rng.int(12) : u32(), 8 % b.length === 0 && b.length === 8 ? 4 : 8);
      return { command: cmd, payload: b, fds: rng.chance(0.05) ? someFds(1) : [] };
    }
    case Command.DEVICE_SET_IRQS: {
      const action = rng.pick([0x8, 0x10, 0x20, 0x38]);
      const data = rng.pick([0x1, 0x2, 0x4, 0x7]);
      const flags = rng.chance(0.9) ? action | data : u32();
      const count = rng.chance(0.7) ? rng.int(18) : u32();
      const start = rng.chance(0.7) ? rng.int(40) : u32();
      const index = rng.chance(0.9) ? rng.int(6) : u32();
      const nfds = flags & 0x4 ? (rng.chance(0.7) ? Math.min(count, maxFds) : rng.int(maxFds + 1)) : rng.chance(0.05) ? 1 : 0;
      const bools = flags & 0x2 ? rng.bytes(rng.chance(0.8) ? Math.min(count, 64) : rng.int(64)) : new Uint8Array(0);
      return {
        command: cmd,
        payload: codec.encodeSetIrqs({ flags, index, start, count, data: bools }),
        fds: Array.from({ length: nfds }, () => (rng.chance(0.9) ? (rng.pick(fds.eventfds) as EventFd).fd : fds.any(rng))),
      };
    }
    case Command.REGION_READ:
    case Command.REGION_WRITE: {
      const region = rng.chance(0.9) ? rng.pick([0, 0, 0, 2, 4, 7, 7, 8, 9]) : u32();
      const offset = rng.chance(0.7) ? BigInt(rng.int(region === 7 ? 0x1000 : 0x4000)) & ~3n : u64();
      const count = rng.chance(0.8) ? rng.pick([1, 2, 4, 4, 4, 8, 3, 64, 4096]) : rng.pick([0, (1 << 20) + 1, u32()]);
      const dataLen = cmd === Command.REGION_READ ? 0 : rng.chance(0.9) ? Math.min(count, 8192) : rng.int(64);
      const data = rng.bytes(dataLen);
      if (region === 7 && offset === 4n && data.length >= 2 && rng.chance(0.5)) data[0] = (data[0] as number) | 0x6; // keep BME on often
      return { command: cmd, payload: codec.encodeRegionAccess({ offset, region, count, data }), fds: rng.chance(0.03) ? someFds(1) : [] };
    }
    case Command.REGION_WRITE_MULTI: {
      const n = rng.chance(0.9) ? rng.int(8) : rng.pick([0, 200, 201, 1000]);
      const b = Buffer.alloc(8 + n * 32);
      b.writeUInt32LE(n, 0); // nr_writes is at a guessable place; layout mutations below cover the rest
      for (let i = 0; i < n; i++) {
        const at = 8 + i * 32;
        b.writeBigUInt64LE(rng.chance(0.8) ? BigInt(rng.int(0x4000)) : u64(), at);
        b.writeUInt32LE(rng.chance(0.9) ? rng.pick([0, 2, 4]) : u32(), at + 8);
        b.writeUInt32LE(rng.chance(0.9) ? rng.pick([1, 2, 4, 8]) : u32(), at + 12);
        b.set(rng.bytes(8), at + 16);
      }
      return { command: cmd, payload: b, fds: [] };
    }
    case Command.DMA_READ:
    case Command.DMA_WRITE:
      return { command: cmd, payload: codec.encodeDmaAccess({ address: u64(), count: size(), data: rng.bytes(rng.int(32)) }), fds: [] };
    case Command.DEVICE_RESET:
      return { command: cmd, payload: new Uint8Array(0), fds: rng.chance(0.05) ? someFds(1) : [] };
    default:
      return { command: cmd, payload: rng.bytes(rng.int(64)), fds: rng.chance(0.1) ? someFds(1 + rng.int(3)) : [] };
  }
}

/** The fuzzing client: raw messages out, replies counted; answers the server's DMA requests. */
class RawClient {
  readonly replies = new Map<number, number>();
  lastReply: Message | undefined;
  closed = false;
  #waiter: { id: number; resolve: (m: Message) => void } | undefined;

  constructor(
    readonly transport: Transport,
    readonly rng: Prng,
    readonly outcomes: Record<string, number>,
  ) {
    transport.start(
      (m) => this.#onMessage(m),
      () => {
        this.closed = true;
      },
    );
  }

  #onMessage(m: Message): void {
    for (const fd of m.fds) closeFd(fd);
    const h = m.header;
    if (!codec.isReply(h)) {
      // The server's DMA_READ/DMA_WRITE: answer zeros/ack, or an error, like QEMU with no memory there.
      if (!codec.wantsReply(h) || this.closed) return;
      if (this.rng.chance(0.3)) return this.transport.send(codec.errorReply(h, 14));
      if (h.command === Command.DMA_READ) {
        const a = codec.decodeDmaAccess(m.payload);
        const n = Number(a.count > 1n << 20n ? 0n : a.count);
        this.transport.send(codec.reply(h, codec.encodeDmaAccess({ address: a.address, count: BigInt(n), data: new Uint8Array(n) })));
      } else this.transport.send(codec.reply(h, m.payload.subarray(0, 16)));
      return;
    }
    const key = h.flags & HeaderFlags.ERROR ? errnoName(h.error) : 'ok';
    if (this.#waiter && h.id === this.#waiter.id && h.command === Command.DEVICE_GET_INFO) {
      const w = this.#waiter;
      this.#waiter = undefined;
      w.resolve(m);
      return;
    }
    this.outcomes[key] = (this.outcomes[key] ?? 0) + 1;
    this.replies.set(h.id, (this.replies.get(h.id) ?? 0) + 1);
  }

  send(bytes: Uint8Array, fds: number[]): void {
    this.transport.send(bytes, fds);
  }

  /** A well-formed DEVICE_GET_INFO with a reserved id (0xffff): resolves with its reply or undefined on the deadline/close. */
  probe(deadlineMs: number): Promise<Message | undefined> {
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiter = undefined;
        resolve(undefined);
      }, deadlineMs);
      this.#waiter = {
        id: 0xffff,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      };
      const p = Buffer.alloc(16);
      p.writeUInt32LE(16, 0);
      this.transport.send(codec.encodeMessage({ id: 0xffff, command: Command.DEVICE_GET_INFO, flags: 0, error: 0 }, p));
    });
  }

  close(): void {
    if (!this.transport.closed) this.transport.close();
  }
}

/** Where the server lives: in this process (memory) or in a child process (socket). */
interface ServerHost {
  connect(): Promise<Transport>;
  /** Undefined while alive; the exit description once dead. */
  dead(): string | undefined;
  deviceErrors(): string[];
  close(): Promise<void>;
}

async function memoryHost(): Promise<ServerHost> {
  const directory = mkdtempSync(join(tmpdir(), 'p2pkit-fuzz-vu-'));
  const logger = countingLogger();
  const nvme = await fuzzTargetNvme(directory, logger);
  const server = new VfioUserServer(nvme.endpoint, { logger, dmaTimeoutMs: 500 });
  let escaped: string | undefined;
  const onError = (e: unknown) => {
    escaped ??= `unhandled: ${(e as Error)?.stack ?? e}`;
  };
  process.on('unhandledRejection', onError);
  process.on('uncaughtException', onError);
  return {
    async connect() {
      await server.sessionEnded();
      const [a, b] = MemoryTransport.pair();
      server.serve(b);
      return a;
    },
    dead: () => escaped,
    deviceErrors: () => logger.deviceLines,
    async close() {
      await server.sessionEnded();
      server.close();
      await nvme.close();
      process.off('unhandledRejection', onError);
      process.off('uncaughtException', onError);
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

async function socketHost(): Promise<ServerHost> {
  const { spawn } = await import('node:child_process');
  const directory = mkdtempSync(join(tmpdir(), 'p2pkit-fuzz-vus-'));
  const path = join(directory, 'fuzz.sock');
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--conditions=source', join(import.meta.dirname, 'fuzz-server.ts'), directory, path],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let exit: string | undefined;
  let stderr = '';
  const deviceLines: string[] = [];
  child.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  child.on('exit', (code, signal) => {
    exit = `server process exited (code ${code}, signal ${signal}): ${stderr.slice(-1500)}`;
  });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      for (const line of out.split('\n')) {
        if (line === 'ready') resolve();
        if (line.startsWith('device: ') && deviceLines.length < 20) deviceLines.push(line.slice(8));
      }
      out = out.slice(out.lastIndexOf('\n') + 1);
    });
    child.on('exit', () => reject(new Error(exit)));
  });
  return {
    async connect() {
      for (let i = 0; ; i++) {
        try {
          return SocketTransport.connect(path);
        } catch (e) {
          if (i > 50) throw e;
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    },
    dead: () => exit,
    deviceErrors: () => deviceLines,
    async close() {
      if (exit === undefined) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

/** Runs the fuzzer; never throws for a finding (they are in the summary). */
export async function fuzzVfioUser(options: VfioUserFuzzOptions): Promise<VfioUserFuzzSummary> {
  const started = Date.now();
  const rng = new Prng(options.seed);
  const deadlineMs = options.deadlineMs ?? 5000;
  const fdsBefore = openFdCount();
  const fds = new FdPool();
  const host = options.transport === 'memory' ? await memoryHost() : await socketHost();
  const maxFds = options.transport === 'memory' ? 20 : 16;
  const summary: VfioUserFuzzSummary = {
    transport: options.transport,
    seed: options.seed,
    steps: 0,
    messages: 0,
    crashes: 0,
    hangs: 0,
    findings: [],
    disconnects: 0,
    outcomes: {},
    commands: {},
    ms: 0,
  };
  const finding = (kind: FuzzFinding['kind'], step: number, detail: string) => {
    if (summary.findings.length < 50) summary.findings.push({ kind, step, detail });
    if (kind === 'crash') summary.crashes++;
    if (kind === 'hang') summary.hangs++;
  };
  const open = async () => {
    const c = new RawClient(await host.connect(), rng, summary.outcomes);
    c.send(
      codec.encodeMessage(
        { id: 0, command: Command.VERSION, flags: 0, error: 0 },
        codec.encodeVersion({ major: 0, minor: 0, capabilities: { max_msg_fds: 16, max_data_xfer_size: 1 << 20 } }),
      ),
      [],
    );
    summary.messages++;
    return c;
  };
  let client = await open();
  let expected = new Map<number, number>([[0, 1]]);
  let lastId = 0;
  const sentAs = new Map<number, string>();
  let deviceErrorsSeen = 0;
  try {
    for (let step = 1; step <= options.steps && !options.stop?.(); step++) {
      summary.steps = step;
      const burst = rng.chance(options.burstChance ?? 0.1) ? 2 + rng.int(6) : 1;
      for (let k = 0; k < burst; k++) {
        const b = build(rng, fds, maxFds);
        const name = b.command in commandNames ? (commandNames[b.command] as string) : 'other';
        summary.commands[name] = (summary.commands[name] ?? 0) + 1;
        let payload = b.payload;
        if (rng.chance(0.08)) payload = payload.subarray(0, rng.int(payload.length + 1)); // truncated
        if (rng.chance(0.04)) payload = Buffer.concat([payload, rng.bytes(1 + rng.int(64))]); // trailing garbage
        if (rng.chance(0.05) && payload.length) {
          payload = Buffer.from(payload);
          for (let i = 0; i < 1 + rng.int(4); i++) (payload as Buffer)[rng.int(payload.length)] = rng.u32() & 0xff;
        }
        let flags = 0;
        if (rng.chance(0.05)) flags |= HeaderFlags.NO_REPLY;
        if (rng.chance(0.02)) flags = rng.u32();
        const id = rng.chance(0.1) ? lastId : rng.int(0xfff0); // duplicates; 0xffff is the probe's
        lastId = id;
        const bytes = codec.encodeMessage({ id, command: b.command, flags, error: rng.chance(0.02) ? rng.u32() : 0 }, payload);
        if (options.transport === 'memory' && rng.chance(0.01))
          bytes.writeUInt32LE(rng.pick([0, 8, 15, 17, bytes.length - 1, bytes.length + 1, rng.u32()]), 4); // size lies
        if (options.transport === 'socket' && rng.chance(0.001)) bytes.writeUInt32LE(rng.pick([(1 << 20) + 8192, 0x7fffffff]), 4); // oversized: E2BIG after skipping?
        const wantsReply = (flags & HeaderFlags.TYPE_MASK) !== HeaderFlags.TYPE_REPLY && (flags & HeaderFlags.NO_REPLY) === 0;
        if (wantsReply) expected.set(id, (expected.get(id) ?? 0) + 1);
        if (wantsReply) sentAs.set(id, `${name} flags 0x${flags.toString(16)} size ${bytes.readUInt32LE(4)}/${bytes.length}`);
        summary.messages++;
        try {
          if (options.transport === 'socket' && bytes.readUInt32LE(4) > bytes.length) {
            // an announced size beyond what we send would wait forever for the rest: send it as a separate stream test
            expected.delete(id);
            client.send(bytes.subarray(0, 16), []);
            client.close();
            break;
          }
          client.send(bytes, b.fds);
        } catch (e) {
          expected.delete(id);
          if (!client.transport.closed) throw e; // a fuzzer bug, not a finding
          break; // closed under us
        }
      }
      const probe = await client.probe(deadlineMs);
      summary.messages++;
      const dead = host.dead();
      if (dead) {
        finding('crash', step, dead);
        break;
      }
      if (!probe) {
        if (client.closed || client.transport.closed) {
          summary.disconnects++;
        } else {
          finding('hang', step, `no DEVICE_GET_INFO reply within ${deadlineMs} ms`);
        }
        client.close();
        client = await open();
        expected = new Map([[0, 1]]);
        const again = await client.probe(deadlineMs);
        if (!again) {
          finding('hang', step, 'a new connection is not answered');
          break;
        }
        client.replies.clear();
        expected.clear();
        continue;
      }
      // every request before the probe has been answered exactly once
      for (const [id, n] of expected) {
        const got = client.replies.get(id) ?? 0;
        if (got !== n) finding('reply-mismatch', step, `id ${id} (${sentAs.get(id)}): ${n} replies expected, ${got} received`);
      }
      for (const [id, n] of client.replies) if (!expected.has(id)) finding('reply-mismatch', step, `id ${id}: ${n} unexpected replies`);
      client.replies.clear();
      expected.clear();
      const errs = host.deviceErrors();
      if (errs.length > deviceErrorsSeen) {
        for (const e of errs.slice(deviceErrorsSeen)) finding('device-error', step, e);
        deviceErrorsSeen = errs.length;
      }
      if (options.onProgress && step % (options.progressEvery ?? 10000) === 0) options.onProgress(step);
      if (step % 5000 === 0) await new Promise((r) => setImmediate(r));
    }
  } finally {
    client.close();
    await host.close();
    fds.close();
  }
  await new Promise((r) => setTimeout(r, 50));
  const leaked = openFdCount() - fdsBefore;
  if (leaked > 0) finding('fd-leak', summary.steps, `${leaked} more fds open after the run`);
  summary.ms = Date.now() - started;
  return summary;
}

const commandNames: Record<number, string> = Object.fromEntries(Object.entries(Command).map(([k, v]) => [v, k]));

/** The one-line summary the scripts and tests print. */
export function formatVfioUserSummary(s: VfioUserFuzzSummary): string {
  const outcomes = Object.entries(s.outcomes)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const other = s.findings.filter((f) => f.kind !== 'crash' && f.kind !== 'hang').length;
  return `vfio-user fuzz (${s.transport}, seed ${s.seed}): ${s.steps} steps, ${s.messages} messages sent, crashes ${s.crashes}, hangs ${s.hangs}, other findings ${other}, disconnects ${s.disconnects}, ${(s.ms / 1000).toFixed(1)} s; replies: ${outcomes}`;
}
