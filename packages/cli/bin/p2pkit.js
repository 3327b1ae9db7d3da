#!/usr/bin/env node
// Runs the TypeScript CLI in this process: tsx (a dependency of @p2pkit/cli, resolved from this
// file, so the bin works from any working directory) compiles on the fly, and a resolve hook
// (source-condition.js) adds the workspace's `source` export condition. One process, so Ctrl-C and SIGTERM reach the
// command itself (serve and shell shut down cleanly) and start-up pays for one Node only.
import { readFileSync } from 'node:fs';
import { register } from 'node:module';

// The version needs no TypeScript: answer it before loading the compiler.
if (process.argv.length === 3 && ['--version', '-V'].includes(process.argv[2])) {
  process.stdout.write(`${JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version}\n`);
  process.exit(0);
}

const { register: registerTsx } = await import('tsx/esm/api');
registerTsx();
register('./source-condition.js', import.meta.url);
await import('../src/main.ts');
