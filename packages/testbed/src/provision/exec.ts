/** Run host commands for provisioning, with captured output and readable failures. */
import { spawn } from 'node:child_process';

/** A failed host command, with the tail of its output. */
export class CommandError extends Error {
  constructor(
    readonly command: readonly string[],
    readonly exitCode: number | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    const tail = (stderr.trim() || stdout.trim()).split('\n').slice(-15).join('\n');
    super(`command failed (exit ${exitCode}): ${command.join(' ')}\n${tail}`);
    this.name = 'CommandError';
  }
}

/** Options of {@link run}. */
export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Bytes written to stdin. */
  input?: string | Buffer;
  /** Kill the command after this many milliseconds (default 10 minutes). */
  timeoutMs?: number;
  /** Resolve instead of throwing on a non-zero exit. */
  allowFailure?: boolean;
}

/** Result of {@link run}. */
export interface RunResult {
  stdout: string;
  /** Raw stdout bytes (for binary output). */
  stdoutBytes: Buffer;
  stderr: string;
  exitCode: number | null;
}

/** Spawn `argv` (no shell), collect output; throws {@link CommandError} on failure. */
export function run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const [file, ...args] = argv;
  if (!file) throw new TypeError('run: empty argv');
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 600_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${file}: ${e.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const bytes = Buffer.concat(out);
      const result = { stdout: bytes.toString(), stdoutBytes: bytes, stderr: Buffer.concat(err).toString(), exitCode: code };
      if (code !== 0 && !options.allowFailure) reject(new CommandError(argv, code, result.stdout, result.stderr));
      else resolve(result);
    });
    if (child.stdin) {
      child.stdin.on('error', () => {}); // the command may exit without reading its input
      child.stdin.end(options.input);
    }
  });
}
