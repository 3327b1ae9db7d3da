/**
 * npm run fuzz:nvme -- --steps 1000000 --seed 1   (steps = commands submitted)
 * SIGINT/SIGTERM stop early and still print the summary.
 */
import { formatNvmeSummary, fuzzNvme } from './nvme-fuzzer.ts';
import { parseArgs } from './prng.ts';

const args = parseArgs(process.argv.slice(2));
const commands = Number(args.steps ?? 100_000);
const seed = Number(args.seed ?? Date.now() % 1_000_000);
let stopping = false;
process.on('SIGINT', () => {
  stopping = true;
});
process.on('SIGTERM', () => {
  stopping = true;
});
const s = await fuzzNvme({
  commands,
  seed,
  stop: () => stopping,
  progressEvery: Math.max(1000, Math.floor(commands / 20)),
  onProgress: (n) => process.stderr.write(`  ${n} / ${commands} commands\n`),
});
for (const f of s.findings) console.log(`FINDING ${f.kind} at command ${f.command}: ${f.detail}`);
console.log(formatNvmeSummary(s));
process.exit(s.findings.length ? 1 : 0);
