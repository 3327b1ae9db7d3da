#!/usr/bin/env node
// Runs the TypeScript CLI through tsx (a dependency of @p2pkit/cli, resolved from this file, so the
// bin works from any working directory) with the workspace's source condition.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const tsx = import.meta.resolve('tsx');
const r = spawnSync(
  process.execPath,
  ['--import', tsx, '--conditions=source', join(here, '..', 'src', 'main.ts'), ...process.argv.slice(2)],
  {
    stdio: 'inherit',
  },
);
process.exit(r.status ?? 1);
