/**
 * Scenario files: one TypeScript file = a topology, the p2pkit devices it serves, how the guest
 * boots, and named steps that run guest jobs and record checks. `p2pkit run <file|folder>` and the
 * vitest helper run them through the same runner (`ScenarioSession`), one guest boot per scenario.
 *
 * ```ts
 * export default defineScenario({
 *   name: 'p2pmem published',
 *   topology: topology().rootPort('rp0', (rp) => rp.switch('sw0', (sw) => sw.downstream('dn0').attach('nvmeA'))),
 *   devices: async ({ dir }) => ({ nvmeA: await createNvme({ serial: 'A', cmb: { size: 64 << 20 }, namespaces: [{ path: `${dir}/a.img`, sizeBytes: 64 << 20 }] }) }),
 *   steps: {
 *     'the CMB is published': async (ctx) => {
 *       const r = await ctx.guest.run('cat $(p2pmem_dir A)/published');
 *       ctx.equal('published', r.stdout.trim(), '1');
 *     },
 *   },
 * });
 * ```
 */
import type { RecordingLogger } from '@p2pkit/base';
import type { Servable, TopologyBuilder, TopologyDescription, TraceWriter } from '@p2pkit/fabric';
import type { JobResult } from '../guest-runner.ts';
import type { Provisioned } from '../provision/index.ts';
import type { Guest } from '../qemu.ts';
import type { Rig } from '../rig.ts';

/** The p2pkit devices of a scenario, by topology endpoint id. */
export type ScenarioDevices = Record<string, Servable>;

/** How the scenario's guest boots (a subset of `boot()`'s options). */
export interface ScenarioGuestOptions {
  /** Guest RAM in MiB (default 1024). */
  memoryMiB?: number;
  /** vCPUs (default 2). */
  cpus?: number;
  /** `-cpu` model (default QEMU's qemu64; `EPYC` makes the kernel allow p2p through the host bridge). */
  cpu?: string;
  /** Modules loaded before ready (default `['nvme']`; `[]` leaves drivers unbound). */
  modules?: readonly string[];
  /** NVMe namespaces to wait for (default: every NVMe in the topology, when nvme is loaded). */
  waitForNvme?: number;
  /** Extra kernel command line words. */
  kernelArgs?: readonly string[];
  /** Boot time limit (default 120 s). */
  bootTimeoutMs?: number;
}

/** What a device factory gets. */
export interface ScenarioSetup {
  /** Scratch folder of this run (namespace images, PMR files): the same across `ctx.restart()`, removed at the end. */
  readonly dir: string;
  /** How many times the devices were created before (0 first, 1 after one `ctx.restart()`). */
  readonly generation: number;
}

/** What steps get: the booted guest, the rig serving the devices, and check recorders. */
export interface ScenarioContext<D extends ScenarioDevices = ScenarioDevices> {
  /** The running guest; `guest.run()` jobs are logged to the scenario's steps.log. */
  readonly guest: Guest;
  /** The rig serving `devices` on the scenario's fabric (`rig.fabric`, `rig.servers`). */
  readonly rig: Rig;
  /** The devices the factory created (new objects after `restart()`). */
  readonly devices: D;
  /** Every server log line (guest, client, device and info channels). */
  readonly serverLog: RecordingLogger;
  readonly provisioned: Provisioned;
  /** This scenario's output folder (logs, traces, dmesg). */
  readonly outDir: string;
  /** Scratch folder (the same as the factory's). */
  readonly scratch: string;
  /** Append a line to steps.log. */
  log(message: string): void;
  /** Record a check; returns `ok`. A failed check fails the step, the step goes on. */
  check(name: string, ok: boolean, detail?: string): boolean;
  /** Check `actual === expected` (deep-equal for arrays and plain objects). */
  equal<T>(name: string, actual: T, expected: T): boolean;
  /** Check that `actual` matches `pattern`. */
  match(name: string, actual: string | undefined, pattern: RegExp): boolean;
  /** Check `actual ≥ min`. */
  atLeast(name: string, actual: number, min: number): boolean;
  /** Check `actual ≤ max`. */
  atMost(name: string, actual: number, max: number): boolean;
  /** Check that a guest job exited 0 (the detail carries its output and dmesg tail). */
  jobOk(name: string, result: JobResult): boolean;
  /** Record the fabric's transactions into `<outDir>/<name>.p2pt` until the writer is closed. */
  trace(name: string): TraceWriter;
  /** Stop the guest, servers and devices, create the devices again (same scratch folder) and boot again. */
  restart(): Promise<void>;
}

/**
 * One step: guest jobs and checks. (Declared through a method so that a `Scenario<{ a: NvmeDevice }>`
 * is still a `Scenario` for the runner: method parameters are compared bivariantly.)
 */
export type ScenarioStep<D extends ScenarioDevices = ScenarioDevices> = { step(ctx: ScenarioContext<D>): Promise<void> }['step'];

/** The definition a scenario file exports (as its default export, through {@link defineScenario}). */
export interface ScenarioDefinition<D extends ScenarioDevices = ScenarioDevices> {
  /** Short name: the row in the results table and the output folder. */
  name: string;
  /** One line on what it shows. */
  description?: string;
  /** The system to boot. Without one the scenario boots nothing: steps use `boot()` themselves. */
  topology?: TopologyDescription | TopologyBuilder;
  /** Creates the p2pkit devices for the endpoints attached by plain id (closed by the runner). */
  devices?: (setup: ScenarioSetup) => D | Promise<D>;
  /** How the guest boots. */
  guest?: ScenarioGuestOptions;
  /** Named steps, run in order on the same boot (or one function: a single step named after the scenario). */
  steps: ScenarioStep<D> | Readonly<Record<string, ScenarioStep<D>>>;
  /** Lines on the servers' `device` channel (device-model bugs) fail the scenario; default true. */
  failOnDeviceLog?: boolean;
}

const BRAND = Symbol.for('p2pkit.scenario');

/** A checked scenario definition, recognisable by the loader. */
export type Scenario<D extends ScenarioDevices = ScenarioDevices> = ScenarioDefinition<D> & { readonly [BRAND]: true };

/** Declare a scenario (the default export of a scenario file). */
export function defineScenario<D extends ScenarioDevices = ScenarioDevices>(definition: ScenarioDefinition<D>): Scenario<D> {
  if (!definition.name?.trim()) throw new TypeError('defineScenario: a name is required');
  if (typeof definition.steps !== 'function' && Object.keys(definition.steps).length === 0)
    throw new TypeError(`scenario ${definition.name}: no steps`);
  return { ...definition, [BRAND]: true };
}

/** True for a value made by {@link defineScenario}. */
export function isScenario(value: unknown): value is Scenario {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}

/** The steps as `[name, fn]` pairs, in order. */
export function scenarioSteps<D extends ScenarioDevices>(scenario: ScenarioDefinition<D>): [string, ScenarioStep<D>][] {
  return typeof scenario.steps === 'function' ? [[scenario.name, scenario.steps]] : Object.entries(scenario.steps);
}
