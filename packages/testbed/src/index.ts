/**
 * @p2pkit/testbed — provision QEMU (Debian sid) and a P2PDMA-capable guest kernel on a bookworm
 * host, boot TCG guests for a topology description (`@p2pkit/fabric`'s `topology()`), serve p2pkit
 * devices on a fabric for them (`Rig`), and run shell jobs inside.
 */

export { ChannelError } from './control-channel.ts';
export { GuestUnresponsiveError, JobError, type JobResult, type RunJobOptions } from './guest-runner.ts';
export { type GuestShellIo, guestShellArgs, openGuestShell } from './guest-shell.ts';
export { buildGuestTool, installTool, parseKeyValues } from './guest-tool.ts';
export { resolveCacheDir } from './provision/cache.ts';
export { type ChromiumInstall, type ChromiumOptions, provisionChromium } from './provision/chromium.ts';
export type { KernelSource } from './provision/custom-kernel.ts';
export { type DebianKernel, fetchDebianKernel } from './provision/debian-kernel.ts';
export { type Provisioned, type ProvisionOptions, provision } from './provision/index.ts';
export { KernelConfigError, type KernelOption, type MissingOption, REQUIRED_KERNEL_OPTIONS } from './provision/kernel-config.ts';
export { formatPreflight, PreflightError, type PreflightItem, type PreflightOptions, preflight } from './provision/preflight.ts';
export {
  consoleReporter,
  type ProgressEvent,
  type ProgressListener,
  type ProgressStatus,
  ProvisionError,
  silentReporter,
} from './provision/progress.ts';
export { checkQemu } from './provision/qemu-sysroot.ts';
export { BootError, type BootOptions, boot, Guest, qemuArgv } from './qemu.ts';
export { type PlacedDevice, planTopology, type TopologyPlan } from './qemu-args.ts';
export { Rig, type RigOptions } from './rig.ts';
export type { CheckResult, StepResult } from './scenario/checks.ts';
export {
  defineScenario,
  type Scenario,
  type ScenarioContext,
  type ScenarioDefinition,
  type ScenarioDevices,
  type ScenarioGuestOptions,
  type ScenarioSetup,
  type ScenarioStep,
  scenarioSteps,
} from './scenario/define.ts';
export { formatScenarioTable, type ScenarioEvent, type ScenarioResult } from './scenario/result.ts';
export {
  defaultRunDir,
  findScenarioFiles,
  type LoadedScenario,
  loadScenarios,
  type RunScenariosOptions,
  runScenarios,
} from './scenario/run.ts';
export { ScenarioSession, type ScenarioSessionOptions } from './scenario/session.ts';
