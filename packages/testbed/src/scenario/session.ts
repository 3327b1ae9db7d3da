/**
 * One scenario run: create its devices, serve them on a rig, boot the guest once, run steps on that
 * boot, and keep what happened in the scenario's output folder (steps.log, server.log, dmesg.txt,
 * guest/console.log + qemu.log, fabric.p2pt, result.json). `p2pkit run`, `p2pkit shell` and the
 * vitest helper all drive scenarios through this class.
 */
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatLogDetail, type LogChannel, type RecordingLogger, recordingLogger } from '@p2pkit/base';
import { endpointsOf, type Servable, TopologyBuilder, type TopologyDescription, type TraceWriter } from '@p2pkit/fabric';
import type { Provisioned } from '../provision/index.ts';
import { type BootOptions, boot, type Guest } from '../qemu.ts';
import { Rig } from '../rig.ts';
import { CheckRecorder, describeError, type StepResult } from './checks.ts';
import { loggedGuest, scenarioContext } from './context.ts';
import { type Scenario, type ScenarioDevices, scenarioSteps } from './define.ts';
import type { ScenarioEvent, ScenarioResult } from './result.ts';

/** Options of {@link ScenarioSession.start}. */
export interface ScenarioSessionOptions {
  provisioned: Provisioned;
  /** The scenario's output folder (created). */
  outDir: string;
  /** The scenario file, recorded in the result. */
  file?: string;
  /** Extra boot options (e.g. more QEMU arguments); the scenario's own `guest` options win. */
  boot?: Partial<BootOptions>;
  onEvent?: (event: ScenarioEvent) => void;
}

/** The running parts of one boot. */
interface Booted {
  devices: ScenarioDevices;
  rig: Rig;
  guest: Guest;
  trace: TraceWriter | undefined;
}

const NVM_CLASS = 0x0108; // mass storage / non-volatile memory (NVMe is 01:08:02)

/** A scenario being run; see the module comment. */
export class ScenarioSession {
  readonly steps: readonly string[];
  readonly results: StepResult[] = [];
  readonly bootMs: number[] = [];
  readonly serverLog: RecordingLogger;
  /** Why the scenario could not start (devices, rig or boot), if it could not. */
  setupError: string | undefined;
  /** The exception behind `setupError` (a `BootError` names the run folder with the logs). */
  setupCause: unknown;
  #booted: Booted | undefined;
  #generation = 0;
  #finished: ScenarioResult | undefined;
  readonly #t0 = performance.now();
  readonly #scratch: string;

  private constructor(
    readonly scenario: Scenario,
    readonly options: ScenarioSessionOptions,
  ) {
    this.steps = scenarioSteps(scenario).map(([name]) => name);
    mkdirSync(options.outDir, { recursive: true });
    this.#scratch = mkdtempSync(join(tmpdir(), 'p2pkit-scenario-'));
    this.serverLog = teeLogger(join(options.outDir, 'server.log'));
  }

  /** Create the devices, serve them and boot; a failure is kept in `setupError` (steps then fail at once). */
  static async start(scenario: Scenario, options: ScenarioSessionOptions): Promise<ScenarioSession> {
    const s = new ScenarioSession(scenario, options);
    s.#emit({ type: 'scenario-start', scenario: scenario.name, outDir: options.outDir });
    s.log(
      `scenario ${scenario.name}${options.file ? ` (${options.file})` : ''}: QEMU ${options.provisioned.qemu.version}, kernel ${options.provisioned.kernel.abi}`,
    );
    if (scenario.topology) {
      try {
        s.#booted = await s.#bootOnce();
      } catch (e) {
        s.setupCause = e;
        s.setupError = describeError(e);
        s.log(`setup failed: ${s.setupError}`);
      }
    }
    return s;
  }

  get guest(): Guest | undefined {
    return this.#booted?.guest;
  }

  get rig(): Rig | undefined {
    return this.#booted?.rig;
  }

  /** Append a timestamped line to steps.log. */
  log(line: string): void {
    const t = ((performance.now() - this.#t0) / 1000).toFixed(1).padStart(6);
    appendFileSync(join(this.options.outDir, 'steps.log'), `[+${t}s] ${line.replace(/\n/g, '\n          ')}\n`);
  }

  async #bootOnce(): Promise<Booted> {
    const topo = this.scenario.topology as TopologyDescription | TopologyBuilder;
    const description = topo instanceof TopologyBuilder ? topo.build() : topo;
    const devices = (await this.scenario.devices?.({ dir: this.#scratch, generation: this.#generation })) ?? {};
    let rig: Rig | undefined;
    try {
      rig = new Rig({ topology: description, devices, logger: this.serverLog });
      const served = [...rig.served.values()];
      const trace =
        served.length > 0
          ? rig.fabric.startTrace(join(this.options.outDir, this.#generation ? `fabric-${this.#generation + 1}.p2pt` : 'fabric.p2pt'))
          : undefined;
      const g = this.scenario.guest ?? {};
      const nvmes =
        endpointsOf(description).filter((ep) => ep.device.kind === 'qemu-nvme').length +
        served.filter((d) => d.endpoint.config.get32(0x08) >>> 16 === NVM_CLASS).length;
      const modules = g.modules ?? this.options.boot?.modules ?? ['nvme'];
      const guest = await boot(rig.topology, {
        ...this.options.boot,
        provisioned: this.options.provisioned,
        runDir: join(this.options.outDir, this.#generation ? `guest-${this.#generation + 1}` : 'guest'),
        modules,
        waitForNvme: g.waitForNvme ?? (modules.includes('nvme') ? nvmes : 0),
        ...(g.memoryMiB ? { memoryMiB: g.memoryMiB } : {}),
        ...(g.cpus ? { cpus: g.cpus } : {}),
        ...(g.cpu ? { cpu: g.cpu } : {}),
        ...(g.bootTimeoutMs ? { bootTimeoutMs: g.bootTimeoutMs } : {}),
        kernelArgs: [...(this.options.boot?.kernelArgs ?? []), ...(g.kernelArgs ?? [])],
      });
      this.bootMs.push(guest.bootMs);
      this.log(`booted in ${(guest.bootMs / 1000).toFixed(1)} s (${guest.runDir})`);
      this.#emit({ type: 'booted', scenario: this.scenario.name, bootMs: guest.bootMs });
      return { devices, rig, guest: loggedGuest(guest, (line) => this.log(line)), trace };
    } catch (e) {
      rig?.close();
      await closeDevices(devices);
      throw e;
    }
  }

  /** Run one step by name on the current boot. */
  async runStep(name: string): Promise<StepResult> {
    const fn = scenarioSteps(this.scenario).find(([n]) => n === name)?.[1];
    if (!fn) throw new Error(`scenario ${this.scenario.name} has no step ${JSON.stringify(name)}`);
    this.#emit({ type: 'step-start', scenario: this.scenario.name, step: name });
    this.log(`step: ${name}`);
    const t0 = performance.now();
    const recorder = new CheckRecorder((c) => {
      this.log(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}${c.detail ? `: ${c.detail}` : ''}`);
      this.#emit({ type: 'check', scenario: this.scenario.name, step: name, check: c });
    });
    let error: string | undefined = this.setupError ? `not run: ${this.setupError.split('\n')[0]}` : undefined;
    if (!error) {
      try {
        await fn(scenarioContext(this, recorder, this.#scratch));
      } catch (e) {
        error = describeError(e);
        this.log(`  step threw: ${error}`);
      }
    }
    const result: StepResult = {
      name,
      ok: !error && recorder.checks.every((c) => c.ok),
      checks: recorder.checks,
      ...(error ? { error } : {}),
      durationMs: performance.now() - t0,
    };
    this.results.push(result);
    this.#emit({ type: 'step-end', scenario: this.scenario.name, result });
    return result;
  }

  /** The current boot (throws when the scenario has none). */
  current(): Booted {
    if (!this.#booted)
      throw new Error(
        this.scenario.topology
          ? 'the guest is not running (setup failed)'
          : `scenario ${this.scenario.name} has no topology: it boots nothing`,
      );
    return this.#booted;
  }

  /** Stop guest, servers and devices; create the devices again (same scratch folder) and boot again. */
  async restart(): Promise<void> {
    await this.#stop(`dmesg-${this.#generation + 1}.txt`);
    this.#generation += 1;
    this.#booted = await this.#bootOnce();
  }

  async #stop(dmesgFile: string): Promise<void> {
    const b = this.#booted;
    if (!b) return;
    this.#booted = undefined;
    const dmesg = await b.guest.dmesg().catch((e: unknown) => `(dmesg unavailable: ${describeError(e)})`);
    writeFileSync(join(this.options.outDir, dmesgFile), dmesg);
    await b.guest.shutdown();
    await b.trace?.close();
    b.rig.close();
    await closeDevices(b.devices);
  }

  /** Run every step that has not run yet, in order. */
  async runAll(): Promise<void> {
    for (const name of this.steps) if (!this.results.some((r) => r.name === name)) await this.runStep(name);
  }

  /** Shut down, write dmesg.txt and result.json, remove the scratch folder; the result (computed once). */
  async finish(): Promise<ScenarioResult> {
    if (this.#finished) return this.#finished;
    await this.#stop('dmesg.txt').catch((e: unknown) => this.log(`shutdown failed: ${describeError(e)}`));
    rmSync(this.#scratch, { recursive: true, force: true });
    const bugs = this.serverLog.entries.filter((e) => e.channel === 'device');
    const deviceCheck = this.scenario.failOnDeviceLog === false || bugs.length === 0;
    const error = this.setupError ?? (deviceCheck ? undefined : `${bugs.length} device-model error(s) logged, first: ${bugs[0]?.message}`);
    const result: ScenarioResult = {
      name: this.scenario.name,
      ...(this.options.file ? { file: this.options.file } : {}),
      ok: !error && this.results.length === this.steps.length && this.results.every((r) => r.ok),
      steps: this.results,
      ...(error ? { error } : {}),
      bootMs: this.bootMs,
      durationMs: performance.now() - this.#t0,
      outDir: this.options.outDir,
    };
    writeFileSync(join(this.options.outDir, 'result.json'), `${JSON.stringify(result, null, 2)}\n`);
    this.log(`${result.ok ? 'PASS' : 'FAIL'} in ${(result.durationMs / 1000).toFixed(1)} s${error ? `: ${error}` : ''}`);
    this.#finished = result;
    this.#emit({ type: 'scenario-end', result });
    return result;
  }

  #emit(event: ScenarioEvent): void {
    this.options.onEvent?.(event);
  }
}

/** Close what a device factory created: instances and endpoints (declarations are the rig's). */
async function closeDevices(devices: Readonly<Record<string, Servable>>): Promise<void> {
  for (const d of Object.values(devices).reverse()) {
    if ('create' in d) continue;
    await (d.close as () => unknown)();
  }
}

/** A recording logger that also appends every line to `file`. */
function teeLogger(file: string): RecordingLogger {
  const rec = recordingLogger();
  const tee = (channel: LogChannel) => (message: string, detail?: Record<string, unknown>) => {
    rec[channel](message, detail);
    appendFileSync(file, `${new Date().toISOString()} ${channel}: ${message}${formatLogDetail(detail)}\n`);
  };
  return { entries: rec.entries, guest: tee('guest'), client: tee('client'), device: tee('device'), info: tee('info') };
}
