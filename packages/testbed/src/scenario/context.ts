/** The `ctx` a scenario step gets, and the guest wrapper that logs every job to steps.log. */
import { join } from 'node:path';
import type { RecordingLogger } from '@p2pkit/base';
import type { JobResult, RunJobOptions } from '../guest-runner.ts';
import type { Provisioned } from '../provision/index.ts';
import type { Guest } from '../qemu.ts';
import type { Rig } from '../rig.ts';
import type { CheckRecorder } from './checks.ts';
import type { ScenarioContext, ScenarioDevices } from './define.ts';

const tail = (text: string, lines: number): string => text.trimEnd().split('\n').slice(-lines).join('\n');

/**
 * `guest` whose `run()` appends each job (script, exit status, time, output tails) to the log.
 * A proxy, so the scenario still holds a real `Guest` (private fields stay on the target).
 */
export function loggedGuest(guest: Guest, log: (line: string) => void): Guest {
  const run = async (script: string, options?: RunJobOptions): Promise<JobResult> => {
    log(`  job: ${script.trim().replace(/\n\s*/g, '\n  ')}`);
    try {
      const r = await guest.run(script, options);
      const out = [r.stdout && `stdout:\n${tail(r.stdout, 40)}`, r.stderr && `stderr:\n${tail(r.stderr, 20)}`].filter(Boolean).join('\n');
      log(`  → exit ${r.exitCode}${r.timedOut ? ' (timed out)' : ''} in ${(r.durationMs / 1000).toFixed(1)} s${out ? `\n${out}` : ''}`);
      return r;
    } catch (e) {
      log(`  → ${(e as Error).message.split('\n')[0]}`);
      throw e;
    }
  };
  return new Proxy(guest, {
    get(target, prop) {
      if (prop === 'run') return run;
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/** What a step context needs from its session (ScenarioSession implements it). */
export interface SessionView {
  current(): { guest: Guest; rig: Rig; devices: ScenarioDevices };
  readonly serverLog: RecordingLogger;
  readonly options: { readonly provisioned: Provisioned; readonly outDir: string };
  log(line: string): void;
  restart(): Promise<void>;
}

/** The context of one step: the session's current boot plus the step's check recorder. */
export function scenarioContext(session: SessionView, checks: CheckRecorder, scratch: string): ScenarioContext {
  return {
    get guest() {
      return session.current().guest;
    },
    get rig() {
      return session.current().rig;
    },
    get devices() {
      return session.current().devices;
    },
    serverLog: session.serverLog,
    provisioned: session.options.provisioned,
    outDir: session.options.outDir,
    scratch,
    log: (message) => session.log(message),
    check: (name, ok, detail) => checks.check(name, ok, detail),
    equal: (name, actual, expected) => checks.equal(name, actual, expected),
    match: (name, actual, pattern) => checks.match(name, actual, pattern),
    atLeast: (name, actual, min) => checks.atLeast(name, actual, min),
    atMost: (name, actual, max) => checks.atMost(name, actual, max),
    jobOk: (name, result) => checks.jobOk(name, result),
    trace: (name) => session.current().rig.fabric.startTrace(join(session.options.outDir, `${name}.p2pt`)),
    restart: () => session.restart(),
  };
}
