/** Check results of scenario steps, and how they are described (soft assertions: a step records and goes on). */
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import type { JobResult } from '../guest-runner.ts';

/** One recorded check. */
export interface CheckResult {
  readonly name: string;
  readonly ok: boolean;
  /** Expected and actual values, or the job output of a failed job. */
  readonly detail?: string;
}

/** One step's outcome. */
export interface StepResult {
  readonly name: string;
  /** No failed check and no exception. */
  readonly ok: boolean;
  readonly checks: readonly CheckResult[];
  /** The exception that ended the step early, one line plus where it came from. */
  readonly error?: string;
  readonly durationMs: number;
}

const show = (v: unknown): string => {
  if (typeof v === 'string') return JSON.stringify(v.length > 200 ? `${v.slice(0, 200)}…` : v);
  if (typeof v === 'bigint') return `${v}n`;
  try {
    return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x)) ?? String(v);
  } catch {
    return String(v);
  }
};

const tail = (text: string, lines: number): string => text.trimEnd().split('\n').slice(-lines).join('\n');

/** The checks of one step, with the assertion helpers `ScenarioContext` exposes. */
export class CheckRecorder {
  readonly checks: CheckResult[] = [];

  constructor(private readonly onCheck: (check: CheckResult) => void) {}

  check(name: string, ok: boolean, detail?: string): boolean {
    const c: CheckResult = detail === undefined ? { name, ok } : { name, ok, detail };
    this.checks.push(c);
    this.onCheck(c);
    return ok;
  }

  equal<T>(name: string, actual: T, expected: T): boolean {
    const ok = isDeepStrictEqual(actual, expected);
    return this.check(name, ok, ok ? `= ${show(actual)}` : `expected ${show(expected)}, got ${show(actual)}`);
  }

  match(name: string, actual: string | undefined, pattern: RegExp): boolean {
    const m = actual === undefined ? null : pattern.exec(actual);
    return this.check(name, m !== null, m ? `matched ${show(m[0])}` : `expected a match for ${pattern}, got ${show(actual)}`);
  }

  atLeast(name: string, actual: number, min: number): boolean {
    return this.check(name, actual >= min, `${actual} ${actual >= min ? '≥' : '<'} ${min}`);
  }

  atMost(name: string, actual: number, max: number): boolean {
    return this.check(name, actual <= max, `${actual} ${actual <= max ? '≤' : '>'} ${max}`);
  }

  jobOk(name: string, r: JobResult): boolean {
    if (r.exitCode === 0) return this.check(name, true, `exit 0 in ${(r.durationMs / 1000).toFixed(1)} s`);
    const why = r.timedOut ? 'timed out' : `exit ${r.exitCode}`;
    return this.check(
      name,
      false,
      `${why}\n--- stdout ---\n${tail(r.stdout, 20)}\n--- stderr ---\n${tail(r.stderr, 20)}\n--- dmesg (tail) ---\n${tail(r.dmesg ?? '', 20)}`,
    );
  }
}

/** The testbed's own sources: frames there are not where a scenario went wrong. */
const TESTBED_SRC = fileURLToPath(new URL('..', import.meta.url));

/** An exception as one line plus its first stack frame in the scenario's code (not node, packages or the testbed). */
export function describeError(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const user = (l: string) => /^\s+at /.test(l) && !l.includes('node:') && !l.includes('/node_modules/') && !l.includes(TESTBED_SRC);
  const frame = e.stack?.split('\n').find(user);
  return `${e.name}: ${e.message}${frame ? `\n${frame.trim()}` : ''}`;
}
