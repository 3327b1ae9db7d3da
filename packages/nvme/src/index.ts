/**
 * @p2pkit/nvme — an NVMe 2.0 controller core (NVM command set) for p2pkit endpoints.
 * The PCI layer wraps `NvmeController`: BAR0 → mmioRead/mmioWrite, BAR2 → CMB memory, BAR4 → PMR memory.
 */

export { SelfTestCode, SelfTestResult } from './admin/device-self-test.ts';
export { Cns } from './admin/identify.ts';
export { LbaStatusAction } from './admin/lba-status.ts';
export { LogPageId } from './admin/log-pages.ts';
export type { AtomicLimits, ControllerAtomicWriteOptions, NamespaceAtomicWriteOptions } from './atomic/limits.ts';
export { SubmissionEntry } from './command.ts';
export { CommandError } from './command-error.ts';
export { NVME_CLASS_CODE, type NvmeBarLayout, NvmeController, registerBytesFor } from './controller.ts';
export { createNvme, type NvmeDevice, type NvmeOptions } from './endpoint.ts';
export { AsyncEventType, ErrorEventInfo, NoticeEventInfo, SmartEventInfo } from './events.ts';
export { FeatureId } from './features.ts';
export { type HolePuncher, ZeroFillHolePuncher } from './hole-puncher.ts';
export type { NvmeControllerHost } from './host.ts';
export type { LbaFormat, NamespaceFormat, ProtectionType } from './lba-format.ts';
export type { MetadataStore } from './metadata-store.ts';
export type { Namespace } from './namespace.ts';
export { NativeHolePuncher } from './native-hole-puncher.ts';
export { AdminOpcode, Effects, IoOpcode } from './opcodes.ts';
export type {
  CmbOptions,
  DeviceSelfTestOptions,
  DoorbellStrategy,
  NamespaceOptions,
  NvmeControllerOptions,
  PmrOptions,
  ProtectionOptions,
  ShadowPollOptions,
} from './options.ts';
export { crc16T10Dif } from './pi/crc16.ts';
export { openPmrFile, type PmrFile } from './pmr-file.ts';
export { Reg } from './registers.ts';
export {
  type BusAccess,
  type CommandContext,
  type CommandHandler,
  type CommandHook,
  type CommandOptions,
  type CommandOutcome,
  type CommandResult,
  type DataDirection,
  Deferred,
  dataDirection,
  type LogPageProvider,
  type LogPageRequest,
  type TransferRange,
} from './registry.ts';
export { createStats, type NvmeStats, resetStats } from './stats.ts';
export { DNR, Status, statusName } from './status.ts';
export type { AnaState } from './subsystem/ana.ts';
export type { AnaReporting, SubsystemMembership } from './subsystem/membership.ts';
export {
  createNvmeSubsystem,
  type NvmeSubsystem,
  type NvmeSubsystemControllerOptions,
  type NvmeSubsystemOptions,
  type SubsystemNamespaceOptions,
} from './subsystem/subsystem.ts';
export { type DriveDatasheet, datasheetTiming } from './timing/datasheet.ts';
export type { LatencyDistribution, LatencyPercentile } from './timing/distributions.ts';
export { idleLatencyUs, type NamespaceTiming, type TimedCommand, type TimedOperation } from './timing/model.ts';
export type { UncorrectableBlocks } from './uncorrectable-blocks.ts';
export {
  type ZoneDescriptor,
  ZoneSendAction,
  ZoneState,
  type ZoneStateValue,
  type ZoneTable,
  type ZoneTableImage,
} from './zns/zone-table.ts';
export type { ZonedNamespaceOptions, ZoneGeometry } from './zns/zoned-options.ts';
