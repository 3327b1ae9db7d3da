/** What `p2pkit run` does once its flags are parsed (loaded only for that command). */
import { resolve } from 'node:path';
import {
  defaultRunDir,
  formatScenarioTable,
  loadScenarios,
  type ProvisionOptions,
  runScenarios,
  type ScenarioEvent,
} from '@p2pkit/testbed';
import { ExitCode, UsageError } from '../exit.ts';
import { type MachineFlags, provisionShown } from '../machine-options.ts';

/** Flags of `p2pkit run`. */
export interface RunFlags extends MachineFlags {
  json?: boolean;
  out?: string;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** One stderr line per scenario start, boot and step (the table comes at the end). */
function progress(e: ScenarioEvent): void {
  const say = (line: string) => process.stderr.write(`[run] ${line}\n`);
  if (e.type === 'scenario-start') say(`${e.scenario} → ${e.outDir}`);
  else if (e.type === 'booted') say(`  guest ready in ${seconds(e.bootMs)}`);
  else if (e.type === 'step-end') {
    const failed = e.result.checks.find((c) => !c.ok);
    const why = e.result.error ?? (failed ? `${failed.name}: ${(failed.detail ?? '').split('\n')[0]}` : '');
    say(`  ${e.result.ok ? 'ok  ' : 'FAIL'} ${e.result.name} (${seconds(e.result.durationMs)})${why ? ` — ${why.split('\n')[0]}` : ''}`);
  } else if (e.type === 'scenario-end' && e.result.error) say(`  ${e.result.error.split('\n')[0]}`);
}

/** Load, provision (your kernel / QEMU checked first), run, print; resolves with the exit code. */
export async function runScenarioCommand(paths: readonly string[], options: ProvisionOptions, f: RunFlags): Promise<number> {
  const scenarios = await loadScenarios(paths).catch((e: unknown) => {
    throw new UsageError((e as Error).message);
  });
  const provisioned = await provisionShown(options);
  process.stderr.write(`[run] ${scenarios.length} scenario(s) on QEMU ${provisioned.qemu.version}, kernel ${provisioned.kernel.abi}\n`);
  const outDir = f.out ? resolve(f.out) : defaultRunDir();
  const results = await runScenarios(scenarios, { provisioned, outDir, onEvent: progress });
  const ok = results.every((r) => r.ok);
  if (f.json) {
    const kernel = {
      release: provisioned.kernel.abi,
      image: provisioned.kernel.vmlinuz,
      modules: provisioned.kernel.modulesDir,
      rootImage: provisioned.guest.rootImage,
    };
    process.stdout.write(`${JSON.stringify({ ok, outDir, qemu: provisioned.qemu, kernel, results }, null, 2)}\n`);
  } else {
    process.stdout.write(`${formatScenarioTable(results)}\noutput: ${outDir}\n`);
  }
  return ok ? ExitCode.ok : ExitCode.failed;
}
