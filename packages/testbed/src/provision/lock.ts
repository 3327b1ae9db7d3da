/** An exclusive lock file so parallel provisioners (e.g. parallel test files) never collide. */
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** Is process `pid` alive on this host? */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Take `file` exclusively (O_EXCL create holding our pid), waiting up to `timeoutMs`.
 * A lock left by a dead process is broken. Returns a release function.
 */
export async function acquireLock(file: string, timeoutMs: number, onWait?: (holder: number) => void): Promise<() => void> {
  const deadline = Date.now() + timeoutMs;
  let told = false;
  for (;;) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => {
        try {
          if (readFileSync(file, 'utf8').trim() === String(process.pid)) unlinkSync(file);
        } catch {
          /* already gone */
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let holder = Number.NaN;
    try {
      holder = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    } catch {
      continue; // released between open and read
    }
    if (!Number.isFinite(holder) || !alive(holder)) {
      try {
        unlinkSync(file); // stale lock
      } catch {
        /* someone else broke it */
      }
      continue;
    }
    if (!told) {
      onWait?.(holder);
      told = true;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for lock ${file} held by pid ${holder}`);
    await sleep(250);
  }
}
