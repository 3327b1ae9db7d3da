/**
 * Benchmark: REGION_READ round trips over a real UNIX socket (TS client → p2pkit server in another
 * process) against a bare UNIX-socket ping-pong of the same message sizes, measured in one run.
 * Prints round trips per second, p50/p99 latency for both and the ratio (target ≤ 1.5).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnixStream } from '@p2pkit/native';
import { VfioUserClient } from '@p2pkit/vfio-user';

const ROUNDS = Number(process.env.ROUNDS ?? 20000);
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
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=source', join(import.meta.dirname, 'bench-server.ts'), mode, path, String(REPLY_SIZE)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
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
  return { name, perSecond: ROUNDS / total, p50: samples[Math.floor(ROUNDS * 0.5)] as number, p99: samples[Math.floor(ROUNDS * 0.99)] as number };
}

function bareClient(path: string): () => Promise<void> {
  const s = UnixStream.connect(path);
  const request = Buffer.alloc(REQUEST_SIZE);
  let waiting: (() => void) | undefined;
  let have = 0;
  s.start(() => {
    for (;;) {
      const c = s.read(REPLY_SIZE - have);
      if (!c || !c.data.length) return;
      have += c.data.length;
      if (have === REPLY_SIZE) {
        have = 0;
        const w = waiting;
        waiting = undefined;
        w?.();
      }
    }
  });
  return () =>
    new Promise<void>((resolve) => {
      waiting = resolve;
      s.write(request);
    });
}

const dir = mkdtempSync(join(tmpdir(), 'p2pkit-bench-'));
try {
  const results: Result[] = [];
  for (const mode of ['bare', 'vfio-user'] as const) {
    const path = join(dir, `${mode}.sock`);
    const child = await startServer(mode, path);
    try {
      if (mode === 'bare') {
        results.push(await measure('bare UNIX socket ping-pong', bareClient(path)));
      } else {
        const client = await VfioUserClient.connect(path);
        results.push(await measure('vfio-user REGION_READ (4 B)', () => client.regionRead(0, 0x10, READ_SIZE)));
        client.close();
      }
    } finally {
      child.kill('SIGTERM');
    }
  }
  const [bare, vu] = results as [Result, Result];
  console.log(`rounds per test: ${ROUNDS} (after ${WARMUP} warm-up); request ${REQUEST_SIZE} B, reply ${REPLY_SIZE} B`);
  for (const r of results) {
    console.log(`${r.name.padEnd(30)} ${r.perSecond.toFixed(0).padStart(8)} round trips/s   p50 ${r.p50.toFixed(1).padStart(6)} µs   p99 ${r.p99.toFixed(1).padStart(6)} µs`);
  }
  const ratio = vu.p50 / bare.p50;
  console.log(`ratio vfio-user / bare (p50 latency): ${ratio.toFixed(2)}   (throughput ratio ${(bare.perSecond / vu.perSecond).toFixed(2)}; target ≤ 1.5)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
