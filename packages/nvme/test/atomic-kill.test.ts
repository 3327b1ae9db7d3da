/**
 * Power-fail atomicity across a server death: a child process serves a namespace and streams
 * atomic-unit writes of distinct byte values through the TS driver; it is killed with SIGKILL at
 * seeded random moments. After each kill the namespace is opened again (replaying the journal) and
 * every unit must hold a single value: entirely the old write or entirely the new one.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNvmeHarness } from '@p2pkit/nvme/testing';
import { afterEach, expect, it } from 'vitest';
import { IoOpcode, Status } from '../src/index.ts';
import { ATOMIC_UNIT_BLOCKS, atomicNamespace, imageIn, UNITS } from './fixtures/atomic-layout.ts';

const KILLS = 8;
const SEED = 0x5eed;

let child: ChildProcess | undefined;
let dir: string | undefined;
afterEach(() => {
  child?.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function startWriter(directory: string, seed: number): Promise<ChildProcess> {
  const script = join(import.meta.dirname, 'fixtures/atomic-writer.ts');
  const c = spawn(process.execPath, ['--import', 'tsx', '--conditions=source', script, directory, imageIn(directory), String(seed)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  child = c;
  return new Promise((resolve, reject) => {
    c.stdout?.once('data', () => resolve(c));
    c.once('exit', (code) => reject(new Error(`writer exited with ${code} before it was ready`)));
  });
}

/** Every unit's distinct byte values, read through the driver after the journal replay. */
async function unitValues(directory: string): Promise<{ values: number[][]; recovered: number }> {
  const rig = await startNvmeHarness({ directory, transport: 'memory', namespaces: [atomicNamespace(imageIn(directory))] });
  try {
    await rig.driver.bringUp();
    const bytes = ATOMIC_UNIT_BLOCKS * 512;
    const buf = rig.driver.memory.alloc(bytes);
    const values: number[][] = [];
    for (let u = 0; u < UNITS; u++) {
      const request = {
        opcode: IoOpcode.Read,
        nsid: 1,
        slba: BigInt(u * ATOMIC_UNIT_BLOCKS),
        blocks: ATOMIC_UNIT_BLOCKS,
        buffer: buf,
        bytes,
      };
      expect((await rig.driver.readWrite(1, request)).status).toBe(Status.Success);
      values.push([...new Set(rig.driver.memory.view(buf, bytes))]);
    }
    return { values, recovered: rig.controller.namespaces.get(1)?.recoveredAtomicWrites ?? -1 };
  } finally {
    await rig.close();
  }
}

it(`every atomic unit is entirely old or entirely new after ${KILLS} SIGKILLs of the serving process`, { timeout: 240_000 }, async () => {
  dir = mkdtempSync(join(tmpdir(), 'p2pkit-atomic-kill-'));
  let seed = SEED;
  let recovered = 0;
  let written = 0;
  for (let kill = 0; kill < KILLS; kill++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    const writer = await startWriter(dir, seed);
    await new Promise((r) => setTimeout(r, seed % 400));
    writer.kill('SIGKILL');
    await new Promise((r) => writer.once('exit', r));
    const after = await unitValues(dir);
    const torn = after.values.map((v, u) => ({ u, v })).filter(({ v }) => v.length !== 1);
    expect(torn, `kill ${kill} (writer seed ${seed}): units holding parts of two writes`).toEqual([]);
    recovered += after.recovered;
    written = after.values.filter(([v]) => v !== 0).length;
  }
  expect(written, 'units the writers filled').toBeGreaterThan(UNITS / 2);
  console.info(`${KILLS} kills: ${recovered} journal records replayed on reopen`);
});
