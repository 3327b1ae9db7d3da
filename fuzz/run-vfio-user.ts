/**
 * npm run fuzz:vfio-user -- --steps 1000000 --seed 1 [--transport memory|socket] [--burst 0.1]
 * SIGINT/SIGTERM stop early and still print the summary.
 */
import { parseArgs } from './prng.ts';
import { formatVfioUserSummary, fuzzVfioUser } from './vfio-user-fuzzer.ts';

const args = parseArgs(process.argv.slice(2));
const steps = Number(args.steps ?? 100_000);
const seed = Number(args.seed ?? Date.now() % 1_000_000);
const transport = args.transport === 'socket' ? 'socket' : 'memory';
let stopping = false;
process.on('SIGINT', () => {
  stopping = true;
});
process.on('SIGTERM', () => {
  stopping = true;
});
const s = await fuzzVfioUser({
  steps,
  seed,
  transport,
  burstChance: Number(args.burst ?? 0.1),
  stop: () => stopping,
  progressEvery: Math.max(1000, Math.floor(steps / 20)),
  onProgress: (n) => process.stderr.write(`  step ${n} / ${steps}\n`),
});
for (const f of s.findings) console.log(`FINDING ${f.kind} at step ${f.step}: ${f.detail}`);
console.log(formatVfioUserSummary(s));
process.exit(s.findings.length ? 1 : 0);
