/**
 * Benchmark: REGION_READ round trips over a real UNIX socket (TS client → p2pkit server in another
 * process) against a bare UNIX-socket ping-pong of the same message sizes, measured in one run.
 * Prints round trips per second, p50/p99 latency for both and the ratio (target ≤ 1.5): REPS (5)
 * repetitions of ROUNDS (5000) round trips each, bare and vfio-user interleaved, median (min–max).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnixStream } from '@p2pkit/native';
import { VfioUserClient } from '@p2pkit/vfio-user';

const ROUNDS = Number(process.env.ROUNDS ?? 5000);
const WARMUP = 2000;
const READ_SIZE = 4;
const REQUEST_SIZE = 32; // header + REGION_READ payload
const REPLY_SIZE = 32 + READ_SIZE;

interface Result {
  name: string;
  perSecond: number;
  p50: number;
  p99: number;
}

async function startServer(mode: string, path: string) {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--conditions=source', join(import.meta.dirname, 'bench-server.ts'), mode, path, String(REPLY_SIZE)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('exit', (c) => reject(new Error(`bench server exited with ${c}`)));
  });
  return child;
}

async function measure(name: string, roundTrip: () => Promise<unknown>): Promise<Result> {
  for (let i = 0; i < WARMUP; i++) await roundTrip();
  const samples = new Float64Array(ROUNDS);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < ROUNDS; i++) {
    const s = process.hrtime.bigint();
    await roundTrip();
    samples[i] = Number(process.hrtime.bigint() - s) / 1000;
  }
  const total = Number(process.hrtime.bigint() - t0) / 1e9;
  samples.sort();
  return {
    name,
    perSecond: ROUNDS / total,
    p50: samples[Math.floor(ROUNDS * 0.5)] as number,
    p99: samples[Math.floor(ROUNDS * 0.99)] as number,
  };
}

/** A ping-pong client of the bare server: `round` sends a request and waits for the reply; `close` ends it. */
function bareClient(path: string): { round: () => Promise<void>; close: () => void } {
  const s = UnixStream.connect(path);
  const request = Buffer.alloc(REQUEST_SIZE);
  let waiting: (() => void) | undefined;
  let have = 0;
  s.start(() => {
    for (;;) {
      const c = s.read(REPLY_SIZE - have);
      if (!c) return;
      if (!c.data.length) return s.close(); // the server went away
      have += c.data.length;
      if (have === REPLY_SIZE) {
        have = 0;
        const w = waiting;
        waiting = undefined;
        w?.();
      }
    }
  });
  return {
    round: () =>
      new Promise<void>((resolve) => {
        waiting = resolve;
        s.write(request);
      }),
    // An open stream keeps its fd watcher, and with it the process, alive.
    close: () => s.close(),
  };
}

const REPS = Number(process.env.REPS ?? 5);
const stat = (xs: number[]) => {
  const v = [...xs].sort((a, b) => a - b);
  return { median: v[Math.floor(v.length / 2)] as number, min: v[0] as number, max: v[v.length - 1] as number };
};
const show = (s: { median: number; min: number; max: number }, digits = 1) =>
  `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;

const dir = mkdtempSync(join(tmpdir(), 'p2pkit-bench-'));
const children: Awaited<ReturnType<typeof startServer>>[] = [];
try {
  // Both servers run for the whole benchmark; rounds alternate bare / vfio-user (the order flips
  // every repetition) so load from other processes lands on both alike.
  const barePath = join(dir, 'bare.sock');
  const vuPath = join(dir, 'vfio-user.sock');
  children.push(await startServer('bare', barePath), await startServer('vfio-user', vuPath));
  const bare = bareClient(barePath);
  const bareRound = bare.round;
  const client = await VfioUserClient.connect(vuPath);
  const vuRound = () => client.regionRead(0, 0x10, READ_SIZE);
  const rounds: { bare: Result; vu: Result }[] = [];
  for (let rep = 0; rep < REPS; rep++) {
    const first = rep % 2 === 0;
    const a = await measure(first ? 'bare' : 'vfio-user', first ? bareRound : vuRound);
    const b = await measure(first ? 'vfio-user' : 'bare', first ? vuRound : bareRound);
    rounds.push(first ? { bare: a, vu: b } : { bare: b, vu: a });
  }
  client.close();
  bare.close();
  console.log(
    `${REPS} interleaved repetitions of ${ROUNDS} rounds (after ${WARMUP} warm-up); request ${REQUEST_SIZE} B, reply ${REPLY_SIZE} B`,
  );
  console.log('median (min–max) over repetitions');
  for (const [name, pick] of [
    ['bare UNIX socket ping-pong', (r: { bare: Result; vu: Result }) => r.bare],
    ['vfio-user REGION_READ (4 B)', (r: { bare: Result; vu: Result }) => r.vu],
  ] as const) {
    const rs = rounds.map(pick);
    console.log(
      `${name.padEnd(30)} ${show(stat(rs.map((r) => r.perSecond)), 0)} round trips/s   p50 ${show(stat(rs.map((r) => r.p50)))} µs   p99 ${show(stat(rs.map((r) => r.p99)))} µs`,
    );
  }
  const latencyRatio = stat(rounds.map((r) => r.vu.p50 / r.bare.p50));
  const throughputRatio = stat(rounds.map((r) => r.bare.perSecond / r.vu.perSecond));
  console.log(
    `ratio vfio-user / bare, per repetition: p50 latency ${show(latencyRatio, 2)}, throughput ${show(throughputRatio, 2)}; target ≤ 1.5`,
  );
} finally {
  for (const child of children) child.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
