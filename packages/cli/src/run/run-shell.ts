/** What `p2pkit shell` does once its flags are parsed (loaded only for that command). */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Servable } from '@p2pkit/fabric';
import {
  defaultRunDir,
  defineScenario,
  guestShellArgs,
  loadScenarios,
  openGuestShell,
  type ProvisionOptions,
  type Scenario,
  ScenarioSession,
} from '@p2pkit/testbed';
import { ExitCode, UsageError } from '../exit.ts';
import { type MachineFlags, provisionShown } from '../machine-options.ts';
import { createDevice, parseDeviceSpecs } from '../serve/device-spec.ts';
import { layoutTopology } from '../serve/plan.ts';

/** Flags of `p2pkit shell`. */
export interface ShellFlags extends MachineFlags {
  out?: string;
}

/** A scenario file, or device specs below one switch (default: two p2pkit NVMe, the first with a 64 MiB CMB). */
async function shellScenario(target: readonly string[]): Promise<Scenario> {
  const [first] = target;
  if (target.length === 1 && first?.endsWith('.ts') && existsSync(first) && first.includes('scenario')) {
    const [loaded] = await loadScenarios([first]).catch((e: unknown) => {
      throw new UsageError((e as Error).message);
    });
    if (!loaded?.scenario.topology) throw new UsageError(`${first}: the scenario has no topology to boot`);
    return loaded.scenario;
  }
  const specs = parseDeviceSpecs(target.length > 0 ? target : ['nvme:cmb=64M', 'nvme']);
  return defineScenario({
    name: 'shell',
    topology: layoutTopology(
      specs.map((s) => s.id),
      'switch',
    ),
    devices: async ({ dir }) => {
      const devices: Record<string, Servable> = {};
      for (const s of specs) devices[s.id] = (await createDevice(s, dir)).device;
      return devices;
    },
    steps: async () => {},
  });
}

/** Boot, open the shell on this terminal, shut down; resolves with the exit code. */
export async function runShell(target: readonly string[], options: ProvisionOptions, f: ShellFlags): Promise<number> {
  const scenario = await shellScenario(target);
  const provisioned = await provisionShown(options);
  // A short folder: UNIX socket paths are limited to 108 bytes.
  const sockDir = mkdtempSync(join(tmpdir(), 'p2pkit-sh-'));
  const socket = join(sockDir, 'ttyS1.sock');
  const outDir = join(f.out ? resolve(f.out) : defaultRunDir(), scenario.name.toLowerCase().replace(/[^a-z0-9]+/g, '-'));
  process.stderr.write(`[shell] booting ${scenario.name} (QEMU ${provisioned.qemu.version}, kernel ${provisioned.kernel.abi}) …\n`);
  const session = await ScenarioSession.start(scenario, { provisioned, outDir, boot: { extraArgs: guestShellArgs(socket) } });
  try {
    const guest = session.guest;
    if (!guest) throw session.setupCause; // e.g. a BootError: reported as one line plus the log folder
    process.stderr.write(`[shell] guest ready in ${(guest.bootMs / 1000).toFixed(1)} s; exit (or Ctrl-D) powers it off, Ctrl-] detaches\n`);
    await openGuestShell(guest, socket);
    return ExitCode.ok;
  } finally {
    await session.finish();
    rmSync(sockDir, { recursive: true, force: true });
    process.stderr.write(`[shell] stopped; logs in ${outDir}\n`);
  }
}
