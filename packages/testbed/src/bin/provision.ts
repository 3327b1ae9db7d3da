/**
 * Provision the p2pkit testbed from the command line, printing each step:
 *
 *   npx tsx --conditions=source packages/testbed/src/bin/provision.ts [--refresh] [--cache DIR]
 *
 * Prints the resulting paths as JSON on stdout.
 */
import { provision } from '../provision/index.ts';

const args = process.argv.slice(2);
const cacheIdx = args.indexOf('--cache');
if (args.includes('--help')) {
  process.stdout.write('usage: provision.ts [--refresh] [--cache DIR]\n');
  process.exit(0);
}
const t0 = performance.now();
try {
  const result = await provision({
    refresh: args.includes('--refresh'),
    ...(cacheIdx >= 0 && args[cacheIdx + 1] ? { cacheDir: args[cacheIdx + 1] } : {}),
  });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  process.stderr.write(`[p2pkit] total ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
} catch (error) {
  process.stderr.write(`[p2pkit] ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
