import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, expect, it } from 'vitest';
import type { ProgressEvent } from '../src/index.ts';
import { step } from '../src/provision/progress.ts';

const dir = mkdtempSync(join(tmpdir(), 'p2pkit-progress-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('a step that downloads reports the bytes so far, counting a file once as it leaves partial/ and never going back when files are deleted', async () => {
  const events: ProgressEvent[] = [];
  mkdirSync(join(dir, 'partial'), { recursive: true });
  await step(
    (e) => events.push(e),
    'fetch',
    'two packages',
    async () => {
      writeFileSync(join(dir, 'partial', 'a.deb'), Buffer.alloc(1000));
      await sleep(700);
      renameSync(join(dir, 'partial', 'a.deb'), join(dir, 'a.deb')); // apt moves a finished download
      writeFileSync(join(dir, 'b.deb'), Buffer.alloc(500));
      await sleep(700);
      rmSync(join(dir, 'a.deb')); // unpacked and deleted
      await sleep(600);
    },
    () => [dir],
  );
  const progress = events.filter((e) => e.status === 'progress').map((e) => e.bytes);
  expect(progress.length).toBeGreaterThanOrEqual(2);
  expect(progress).toEqual([...progress].sort((a, b) => (a ?? 0) - (b ?? 0))); // never shrinks
  expect(events.at(-1)).toMatchObject({ status: 'done', bytes: 1500 });
  expect(events[0]).toMatchObject({ status: 'start', step: 'fetch' });
});
