/**
 * Guest jobs: shell scripts run by the guest agent, one at a time, with files in and out.
 *
 * Per job the host writes `jobs/<id>/script.sh` and `jobs/<id>/in/*` into the 9p share, sends
 * `RUN <id> <timeout>` on the control channel and waits for `DONE <id> <rc>`; then it collects
 * `stdout`, `stderr` and everything the script wrote to `$JOB_OUT`. The guest enforces the
 * timeout with coreutils `timeout` (exit code 124); the host gives up later still and declares
 * the guest unresponsive. Failed jobs get the guest kernel log attached.
 */
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import type { ControlChannel } from './control-channel.ts';

/** Options of `Guest.run`. */
export interface RunJobOptions {
  /** Guest-side time limit (default 60 s); the job is killed and `timedOut` is set. */
  timeoutMs?: number;
  /** Input files, available to the script under `$JOB_IN/<name>` (names may contain `/`). */
  files?: Record<string, string | Buffer> | Map<string, string | Buffer>;
  /** Throw a {@link JobError} instead of returning when the job fails or times out. */
  check?: boolean;
}

/** What a job produced. */
export interface JobResult {
  readonly id: number;
  readonly stdout: string;
  readonly stderr: string;
  /** Exit status of the script (124 when it hit the time limit). */
  readonly exitCode: number;
  readonly timedOut: boolean;
  /** Host wall time from sending the job to its completion. */
  readonly durationMs: number;
  /** Files the script wrote below `$JOB_OUT`, by relative path. */
  readonly files: Map<string, Buffer>;
  /** Guest kernel log, captured when the job failed. */
  readonly dmesg?: string;
}

/** A job failed (only thrown with `check: true`). */
export class JobError extends Error {
  override name = 'JobError';
  constructor(readonly result: JobResult) {
    super(
      `guest job ${result.id} ${result.timedOut ? 'timed out' : `exited with ${result.exitCode}`}\n` +
        `--- stderr ---\n${tail(result.stderr, 20)}\n--- dmesg (tail) ---\n${tail(result.dmesg ?? '', 30)}`,
    );
  }
}

/** The guest stopped answering (host-side deadline passed or channel closed). */
export class GuestUnresponsiveError extends Error {
  override name = 'GuestUnresponsiveError';
}

function tail(text: string, lines: number): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/** Slack on top of the guest-side timeout before the host declares the guest dead. */
const HOST_GRACE_MS = 15_000;

/** Host side of the job protocol over a share folder and a control channel. */
export class GuestRunner {
  #next = 1;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly shareDir: string,
    private readonly channel: ControlChannel,
    /** Rejects when QEMU exits, so waits end at once. */
    private readonly exited: Promise<never>,
  ) {}

  /** Run `script` (POSIX sh, with guest/lib.sh helpers sourced) in the guest. Jobs run one at a time. */
  run(script: string, options: RunJobOptions = {}): Promise<JobResult> {
    const job = this.#queue.then(() => this.#run(script, options));
    this.#queue = job.catch(() => undefined);
    return job;
  }

  /** The guest's kernel log (`dmesg`). */
  dmesg(timeoutMs = 20_000): Promise<string> {
    const job = this.#queue.then(() => this.#dmesg(timeoutMs));
    this.#queue = job.catch(() => undefined);
    return job;
  }

  async #dmesg(timeoutMs: number): Promise<string> {
    const id = this.#next++;
    const file = join(this.shareDir, `dmesg.${id}`);
    this.channel.send(`DMESG ${id}`);
    await this.#waitDone(id, timeoutMs);
    const text = await readFile(file, 'utf8');
    await rm(file, { force: true });
    return text;
  }

  async #waitDone(id: number, timeoutMs: number): Promise<number> {
    try {
      return await this.channel.waitDone(id, timeoutMs, this.exited);
    } catch (e) {
      throw new GuestUnresponsiveError(`guest did not finish command ${id}: ${(e as Error).message}`, { cause: e });
    }
  }

  async #run(script: string, options: RunJobOptions): Promise<JobResult> {
    const id = this.#next++;
    const timeoutMs = options.timeoutMs ?? 60_000;
    const dir = join(this.shareDir, 'jobs', String(id));
    await mkdir(join(dir, 'in'), { recursive: true });
    await writeFile(join(dir, 'script.sh'), script);
    const inputs = options.files instanceof Map ? [...options.files] : Object.entries(options.files ?? {});
    for (const [name, data] of inputs) {
      if (name.startsWith('/') || name.split('/').includes('..')) throw new Error(`invalid job file name ${name}`);
      await mkdir(dirname(join(dir, 'in', name)), { recursive: true });
      await writeFile(join(dir, 'in', name), data);
    }

    const t0 = performance.now();
    this.channel.send(`RUN ${id} ${Math.max(1, Math.ceil(timeoutMs / 1000))}`);
    const exitCode = await this.#waitDone(id, timeoutMs + HOST_GRACE_MS);
    const durationMs = performance.now() - t0;

    const [stdout, stderr] = await Promise.all(['stdout', 'stderr'].map((f) => readFile(join(dir, f), 'utf8').catch(() => '')));
    const files = await collect(join(dir, 'out'));
    await rm(dir, { recursive: true, force: true });
    const timedOut = exitCode === 124 || exitCode === 137;
    let dmesg: string | undefined;
    if (exitCode !== 0) dmesg = await this.#dmesg(20_000).catch((e: unknown) => `(dmesg unavailable: ${String(e)})`);
    const result: JobResult = {
      id,
      stdout: stdout ?? '',
      stderr: stderr ?? '',
      exitCode,
      timedOut,
      durationMs,
      files,
      ...(dmesg !== undefined ? { dmesg } : {}),
    };
    if (options.check && exitCode !== 0) throw new JobError(result);
    return result;
  }
}

async function collect(root: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const walk = async (dir: string): Promise<void> => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) out.set(relative(root, p), await readFile(p));
    }
  };
  await walk(root);
  return out;
}
