import { type ControllerAtomicWriteOptions, type NamespaceAtomicWriteOptions, resolveControllerAtomicity } from './atomic/limits.ts';
import type { HolePuncher } from './hole-puncher.ts';
import { ZeroFillHolePuncher } from './hole-puncher.ts';
import type { SubsystemMembership } from './subsystem/membership.ts';
import { type NamespaceTiming, timingProblem } from './timing/model.ts';
import type { ZonedNamespaceOptions } from './zns/zoned-options.ts';

/** One namespace backed by a sparse raw image file. */
export interface NamespaceOptions {
  /** Raw image; created (sparse) when missing. */
  path: string;
  /** Capacity in bytes. The file is extended (sparse) to it; default: the current file size. */
  sizeBytes?: number;
  /** Logical block size; default 512. */
  lbaSize?: 512 | 4096;
  /**
   * Metadata bytes per block (an LBA format with metadata: 512+8, 4096+8, 4096+64), kept in
   * `<path>.metadata`; default 0. Format NVM from the guest can change it at run time.
   */
  metadataSize?: 0 | 8 | 64;
  /** Metadata interleaved with each block in the data buffer (FLBAS bit 4) instead of through MPTR; default false. */
  extendedLba?: boolean;
  /** End-to-end protection information in the metadata (needs `metadataSize` ≥ 8); default none. */
  protection?: ProtectionOptions;
  /** Namespace ID; default: the next free one. */
  nsid?: number;
  /** Attached to this controller at start; default true. */
  attached?: boolean;
  /**
   * The namespace's own atomic write limits (NSFEAT bit 1; NAWUN, NAWUPF, NABSN, NABO, NABSPF),
   * honoured by the model; default: the controller's `atomicWrite`.
   */
  atomicWrite?: NamespaceAtomicWriteOptions;
  /** Latency and bandwidth profile of the namespace's I/O; default none (as fast as the host allows). */
  timing?: NamespaceTiming;
  /** Makes it a zoned namespace (Zoned Namespace command set, CSI 02h); see docs/nvme-features.md. */
  zoned?: ZonedNamespaceOptions;
}

/** End-to-end data protection of a namespace (NVM command set §5.3): T10 DIF with a 16-bit guard. */
export interface ProtectionOptions {
  /** PI type 1 (reference tag = LBA), 2 (reference tag from the command) or 3 (no reference tag). */
  type: 1 | 2 | 3;
  /** The 8-byte tuple in the first or last metadata bytes; default 'last' (DPS bit 3 clear). */
  location?: 'first' | 'last';
}

/** Controller Memory Buffer (NVMe 2.0 §8.2.1). `memory` is mapped by the guest and peers (memfd in production). */
export interface CmbOptions {
  memory: Uint8Array;
  /** BAR index reported in CMBLOC.BIR; default 2. */
  bar?: number;
  /** Offset inside that BAR (multiple of the size unit); default 0. */
  barOffset?: number;
  /** CMBSZ.SQS: I/O submission queues may live in the CMB; default true. */
  submissionQueues?: boolean;
  /** CMBSZ.CQS: completion queues may live in the CMB; default false. */
  completionQueues?: boolean;
  /** CMBSZ.LISTS: PRP/SGL lists may live in the CMB; default true. */
  lists?: boolean;
}

/** Persistent Memory Region (NVMe 2.0 §8.2.2). Persistence comes from `flush` (see `openPmrFile`). */
export interface PmrOptions {
  memory: Uint8Array;
  /** Makes `memory` durable; called on PMRCTL.EN 1→0, shutdown and close. */
  flush?: () => void | Promise<void>;
  /** BAR index reported in PMRCAP.BIR; default 4. */
  bar?: number;
}

/**
 * 'mmio': every doorbell is an MMIO write. 'shadow': Doorbell Buffer Config + EventIdx; the controller
 * reads shadow SQ tails when an MMIO doorbell arrives (or a CQ is full) and asks for the next MMIO
 * doorbell as soon as it has caught up. 'shadow-poll': the same buffers, but while I/O is active the
 * controller polls the shadow SQ tails itself (timer-driven, adaptive) and keeps EventIdx out of the
 * driver's way, so Linux skips MMIO doorbells; after `shadowPoll.idleStopUs` without activity it stops
 * polling and re-arms EventIdx so the next submission rings again.
 */
export type DoorbellStrategy = 'mmio' | 'shadow' | 'shadow-poll';

/** Adaptive shadow-doorbell polling ('shadow-poll'). */
export interface ShadowPollOptions {
  /**
   * Poll delay right after activity (a new SQ tail, an MMIO doorbell, a completion), µs; default 50.
   * Each time a whole delay passes without activity the delay doubles. Node timers have 1 ms
   * resolution: while the delay is below 1000 µs the controller polls on every event-loop turn
   * (setImmediate) until it has passed, so with the defaults it spins for about 1.5 ms after the
   * last activity, then polls once per millisecond.
   */
  minIntervalUs?: number;
  /**
   * Backoff ceiling, µs; default 1000 (Node's timer resolution: measured faster than 4000 in
   * bench/nvme-fio.ts, see the README).
   */
  maxIntervalUs?: number;
  /** Polling stops after this long without activity and MMIO doorbells take over again, µs; default 10000. */
  idleStopUs?: number;
}

/** How long the modelled Device Self-test operations run (Identify Controller EDSTT reports the extended one). */
export interface DeviceSelfTestOptions {
  /** Short device self-test, ms; default 2000 (the spec allows up to two minutes). */
  shortMs?: number;
  /** Extended device self-test, ms; default 10000 (EDSTT: rounded up to whole minutes). */
  extendedMs?: number;
}

export interface NvmeControllerOptions {
  /** Serial number (≤ 20 ASCII characters); also seeds namespace NGUIDs. */
  serial: string;
  model?: string;
  firmwareRevision?: string;
  /** PCI vendor / subsystem vendor IDs reported in Identify Controller; default 0x1b36 (Red Hat/QEMU). */
  pciVendorId?: number;
  pciSubsystemVendorId?: number;
  /** Controller ID (CNTLID); default 1. */
  controllerId?: number;
  subsystemNqn?: string;
  namespaces?: NamespaceOptions[];
  /** Enables Namespace Management create: new images are created here as `ns<nsid>.img`. */
  namespaceDirectory?: string;
  /** Total NVM capacity for Namespace Management (TNVMCAP), bytes; default 1 TiB. */
  totalCapacityBytes?: number;
  /** Highest namespace ID (Identify Controller NN); default 32. */
  maxNamespaces?: number;
  cmb?: CmbOptions;
  pmr?: PmrOptions;
  /** Maximum entries per queue (CAP.MQES + 1); default 1024. */
  maxQueueEntries?: number;
  /** Number of I/O SQs and CQs the controller allocates at most; default 64. */
  maxIoQueues?: number;
  /** Number of interrupt vectors (MSI-X table size); default maxIoQueues + 1. */
  interruptVectors?: number;
  /** Doorbell stride in bytes (4 << CAP.DSTRD): power of two ≥ 4; default 4. */
  doorbellStride?: number;
  /**
   * 'shadow' and 'shadow-poll' advertise Doorbell Buffer Config (OACS bit 8) so drivers may skip MMIO
   * doorbells (see {@link DoorbellStrategy}). Default 'shadow'. With a CMB, QEMU sends every BAR
   * write of the device synchronously (it has a mappable BAR), so each MMIO doorbell stalls the
   * vCPU for a round trip; 'shadow-poll' avoids them but keeps a host core polling: measure both.
   */
  doorbellStrategy?: DoorbellStrategy;
  /** Poll interval bounds for doorbellStrategy 'shadow-poll' (ignored otherwise). */
  shadowPoll?: ShadowPollOptions;
  /**
   * Atomic write units of namespaces without their own (Identify Controller AWUN, AWUPF), honoured
   * by the model; default one block each.
   */
  atomicWrite?: ControllerAtomicWriteOptions;
  /** Maximum data transfer size as a power of two of 4 KiB pages (0 = unlimited); default 7 (512 KiB). */
  mdts?: number;
  /**
   * Zone Append Size Limit (ZASL) in bytes for zoned namespaces: a power of two ≥ 4 KiB. Default:
   * MDTS (ZASL = 0).
   */
  zoneAppendSizeLimitBytes?: number;
  /** VS register; default 0x00010400 (1.4). */
  version?: number;
  /** CAP.TO in milliseconds (rounded up to 500 ms units); default 5000. */
  readyTimeoutMs?: number;
  /** Composite temperature in Kelvin reported at start; default 313. */
  temperatureKelvin?: number;
  /** Deallocate / Write Zeroes with DEAC. Default zero-fills (no space reclaimed). */
  holePuncher?: HolePuncher;
  /** Runs queue processing after the MMIO reply; default setImmediate. */
  schedule?: (task: () => void) => void;
  /** Commands executed concurrently per I/O SQ; default 64. */
  maxInflightPerQueue?: number;
  /**
   * Commands fetched together run as a batch whose completions share one CQ write pass and one
   * interrupt; a batch that has run this many µs posts what it has completed so far before its
   * next command, which bounds how long the first completion of a long batch waits. Default 1000
   * (a batch of eight 128 KiB reads still shares one interrupt: on a host short of CPU every
   * interrupt costs the guest more than the earlier hand-over gains); 0 posts after every command.
   */
  completionBatchUs?: number;
  /**
   * Identify Controller bytes 3072–4095 (Vendor Specific, NVMe 2.0 base Figure 275): at most 1024
   * bytes copied at offset 3072, the rest zero. A function is asked on every Identify.
   */
  identifyVendorSpecific?: Uint8Array | (() => Uint8Array);
  /** Durations of the Device Self-test operations. */
  deviceSelfTest?: DeviceSelfTestOptions;
  /**
   * Membership in a multi-controller NVM subsystem: shared namespaces, CMIC, ANA. Set by
   * `NvmeSubsystem.controller()` (see `createNvmeSubsystem`), not by hand.
   */
  subsystem?: SubsystemMembership;
}

export interface ResolvedOptions {
  serial: string;
  model: string;
  firmwareRevision: string;
  pciVendorId: number;
  pciSubsystemVendorId: number;
  controllerId: number;
  subsystemNqn: string;
  namespaces: NamespaceOptions[];
  namespaceDirectory: string | undefined;
  totalCapacityBytes: number;
  maxNamespaces: number;
  cmb: Required<CmbOptions> | undefined;
  pmr: { memory: Uint8Array; flush: () => void | Promise<void>; bar: number } | undefined;
  maxQueueEntries: number;
  maxIoQueues: number;
  interruptVectors: number;
  doorbellStrideShift: number;
  doorbellStrategy: DoorbellStrategy;
  shadowPoll: Required<ShadowPollOptions>;
  mdts: number;
  /** ZASL as reported (power of two of 4 KiB units; 0 = MDTS). */
  zasl: number;
  /** Some configured namespace is zoned: CAP.CSS advertises I/O command sets (bit 6). */
  zoned: boolean;
  version: number;
  readyTimeoutUnits: number;
  temperatureKelvin: number;
  holePuncher: HolePuncher;
  schedule: (task: () => void) => void;
  maxInflightPerQueue: number;
  completionBatchUs: number;
  identifyVendorSpecific: (() => Uint8Array) | undefined;
  deviceSelfTest: Required<DeviceSelfTestOptions>;
  subsystem: SubsystemMembership | undefined;
  atomicWrite: { normalBlocks: number; powerFailBlocks: number };
}

/** Size of the Vendor Specific area of Identify Controller (bytes 3072–4095). */
export const IDENTIFY_VENDOR_SPECIFIC_BYTES = 1024;

function check(condition: boolean, message: string): void {
  if (!condition) throw new RangeError(`NvmeController options: ${message}`);
}

export function resolveOptions(o: NvmeControllerOptions): ResolvedOptions {
  const maxIoQueues = o.maxIoQueues ?? 64;
  const stride = o.doorbellStride ?? 4;
  const maxQueueEntries = o.maxQueueEntries ?? 1024;
  check(o.serial.length > 0 && o.serial.length <= 20, 'serial must be 1..20 characters');
  check(maxIoQueues >= 1 && maxIoQueues <= 0xfffe, 'maxIoQueues must be 1..65534');
  check(stride >= 4 && (stride & (stride - 1)) === 0 && stride <= 4 << 15, 'doorbellStride must be a power of two in 4..131072');
  check(maxQueueEntries >= 2 && maxQueueEntries <= 0x10000, 'maxQueueEntries must be 2..65536');
  const shadowPoll = {
    minIntervalUs: o.shadowPoll?.minIntervalUs ?? 50,
    maxIntervalUs: o.shadowPoll?.maxIntervalUs ?? 1000,
    idleStopUs: o.shadowPoll?.idleStopUs ?? 10_000,
  };
  check(
    shadowPoll.minIntervalUs > 0 && shadowPoll.maxIntervalUs >= shadowPoll.minIntervalUs && shadowPoll.maxIntervalUs <= 1_000_000,
    'shadowPoll needs 0 < minIntervalUs <= maxIntervalUs <= 1000000',
  );
  check(shadowPoll.idleStopUs > 0, 'shadowPoll.idleStopUs must be positive');
  const deviceSelfTest = { shortMs: o.deviceSelfTest?.shortMs ?? 2000, extendedMs: o.deviceSelfTest?.extendedMs ?? 10_000 };
  check(
    deviceSelfTest.shortMs > 0 &&
      deviceSelfTest.shortMs <= 120_000 &&
      deviceSelfTest.extendedMs > 0 &&
      deviceSelfTest.extendedMs <= 86_400_000,
    'deviceSelfTest needs 0 < shortMs <= 120000 (two minutes) and 0 < extendedMs <= 86400000 (a day)',
  );
  for (const ns of o.namespaces ?? []) {
    const problem = ns.timing && timingProblem(ns.timing);
    check(!problem, `namespace ${ns.path} timing: ${problem}`);
  }
  const mdts = o.mdts ?? 7;
  check(mdts >= 0 && mdts <= 20, 'mdts must be 0..20');
  check(
    o.completionBatchUs === undefined || (Number.isFinite(o.completionBatchUs) && o.completionBatchUs >= 0),
    'completionBatchUs must be a finite number ≥ 0',
  );
  const zoneAppendLimit = o.zoneAppendSizeLimitBytes;
  const zasl = zoneAppendLimit === undefined ? 0 : Math.log2(zoneAppendLimit / 4096);
  check(Number.isInteger(zasl) && zasl >= 0 && zasl <= 255, 'zoneAppendSizeLimitBytes must be a power of two ≥ 4096');
  if (o.cmb) {
    const size = o.cmb.memory.byteLength;
    check(size >= 4096 && size % 4096 === 0, 'cmb.memory size must be a non-zero multiple of 4 KiB');
  }
  return {
    serial: o.serial,
    model: o.model ?? 'p2pkit NVMe Ctrl',
    firmwareRevision: o.firmwareRevision ?? '1.0',
    pciVendorId: o.pciVendorId ?? 0x1b36,
    pciSubsystemVendorId: o.pciSubsystemVendorId ?? 0x1af4,
    controllerId: o.controllerId ?? 1,
    subsystemNqn: o.subsystemNqn ?? `nqn.2019-08.org.p2pkit:nvme:${o.serial}`,
    namespaces: o.namespaces ?? [],
    namespaceDirectory: o.namespaceDirectory,
    totalCapacityBytes: o.totalCapacityBytes ?? 2 ** 40,
    maxNamespaces: o.maxNamespaces ?? 32,
    cmb: o.cmb
      ? {
          memory: o.cmb.memory,
          bar: o.cmb.bar ?? 2,
          barOffset: o.cmb.barOffset ?? 0,
          submissionQueues: o.cmb.submissionQueues ?? true,
          completionQueues: o.cmb.completionQueues ?? false,
          lists: o.cmb.lists ?? true,
        }
      : undefined,
    pmr: o.pmr ? { memory: o.pmr.memory, flush: o.pmr.flush ?? (() => {}), bar: o.pmr.bar ?? 4 } : undefined,
    maxQueueEntries,
    maxIoQueues,
    interruptVectors: o.interruptVectors ?? maxIoQueues + 1,
    doorbellStrideShift: Math.log2(stride) - 2,
    doorbellStrategy: o.doorbellStrategy ?? 'shadow',
    shadowPoll,
    mdts,
    zasl,
    zoned: (o.namespaces ?? []).some((n) => n.zoned !== undefined),
    version: o.version ?? 0x00010400,
    readyTimeoutUnits: Math.min(255, Math.max(1, Math.ceil((o.readyTimeoutMs ?? 5000) / 500))),
    temperatureKelvin: o.temperatureKelvin ?? 313,
    holePuncher: o.holePuncher ?? new ZeroFillHolePuncher(),
    schedule: o.schedule ?? ((task) => void setImmediate(task)),
    maxInflightPerQueue: o.maxInflightPerQueue ?? 64,
    completionBatchUs: o.completionBatchUs ?? 1000,
    identifyVendorSpecific: resolveVendorSpecific(o.identifyVendorSpecific),
    deviceSelfTest,
    subsystem: o.subsystem,
    atomicWrite: resolveControllerAtomicity(o.atomicWrite),
  };
}

function resolveVendorSpecific(v: NvmeControllerOptions['identifyVendorSpecific']): (() => Uint8Array) | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'function') return v;
  check(v.byteLength <= IDENTIFY_VENDOR_SPECIFIC_BYTES, `identifyVendorSpecific is ${v.byteLength} bytes, at most 1024 fit`);
  const copy = v.slice();
  return () => copy;
}
