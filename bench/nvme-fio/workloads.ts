/**
 * What the guest benchmark measures: the devices (p2pkit NVMe with each doorbell strategy and with a
 * CMB, QEMU's own nvme as the reference) and the fio workloads, single-device and across two devices.
 */
import type { DoorbellStrategy } from '@p2pkit/nvme';

/** One NVMe controller in the guest's topology. */
export interface DeviceSpec {
  /** Topology id (unique). */
  id: string;
  /** Controller serial the guest finds the namespace by (unique, ≤ 20 characters). */
  serial: string;
  kind: 'p2pkit' | 'qemu';
  /** p2pkit only. */
  strategy?: DoorbellStrategy;
  /** p2pkit only: a Controller Memory Buffer of this many MiB (the Linux driver puts its I/O SQs there). */
  cmbMiB?: number;
}

/** What one fio run is pointed at: one device, or two driven by the same fio job(s). */
export interface Target {
  /** `--devices` name for single-device targets; `<name>x2` for pairs. */
  key: string;
  label: string;
  devices: DeviceSpec[];
  /** The reference every ratio divides by (QEMU's nvme). */
  reference: boolean;
}

const p2pkit = (id: string, serial: string, strategy: DoorbellStrategy, cmbMiB?: number): DeviceSpec =>
  cmbMiB === undefined ? { id, serial, kind: 'p2pkit', strategy } : { id, serial, kind: 'p2pkit', strategy, cmbMiB };
const qemu = (id: string, serial: string): DeviceSpec => ({ id, serial, kind: 'qemu' });

/** The single-device targets by `--devices` name, in report order (the reference last). */
export const DEVICE_TARGETS: readonly Target[] = [
  { key: 'shadow', label: 'p2pkit shadow', devices: [p2pkit('nvmeShadow', 'P2PK-SHADOW', 'shadow')], reference: false },
  { key: 'poll', label: 'p2pkit poll', devices: [p2pkit('nvmePoll', 'P2PK-POLL', 'shadow-poll')], reference: false },
  { key: 'mmio', label: 'p2pkit mmio', devices: [p2pkit('nvmeMmio', 'P2PK-MMIO', 'mmio')], reference: false },
  { key: 'cmb', label: 'p2pkit CMB', devices: [p2pkit('nvmeCmb', 'P2PK-CMB', 'shadow', 16)], reference: false },
  { key: 'cmb-poll', label: 'p2pkit CMB poll', devices: [p2pkit('nvmeCmbPoll', 'P2PK-CMB-POLL', 'shadow-poll', 16)], reference: false },
  { key: 'qemu', label: 'QEMU nvme', devices: [qemu('qemu', 'QEMU-NVME')], reference: true },
];

/**
 * Two-device targets of the scaling workloads: the first device of the pair is the single-device
 * target's own controller, the second a twin with the same configuration. Only 'shadow' (the
 * default strategy) and the reference have pairs.
 */
export function pairOf(single: Target): Target | undefined {
  const [first] = single.devices;
  if (!first || (single.key !== 'shadow' && single.key !== 'qemu')) return undefined;
  const twin: DeviceSpec = { ...first, id: `${first.id}B`, serial: `${first.serial}-B` };
  return { key: `${single.key}x2`, label: `${single.label} ×2`, devices: [first, twin], reference: single.reference };
}

/** One fio workload. */
export interface Workload {
  /** `--workloads` name. */
  key: string;
  label: string;
  rw: 'randread' | 'randwrite' | 'read' | 'write';
  blockKiB: number;
  /** Queue depth per job. */
  iodepth: number;
  jobs: number;
  /** Devices per target: 2 = every job spreads its I/O over both devices of a pair. */
  devicesPerTarget: 1 | 2;
  /** The figure the workload is about (both are reported). */
  metric: 'iops' | 'mbps';
}

const rr = (iodepth: number): Workload => ({
  key: `4k-randread-qd${iodepth}`,
  label: `4k randread QD${iodepth}`,
  rw: 'randread',
  blockKiB: 4,
  iodepth,
  jobs: 1,
  devicesPerTarget: 1,
  metric: 'iops',
});
const scaled = (jobs: number): Workload => ({
  key: `4k-randread-qd32-2dev-${jobs}job`,
  label: `4k randread QD32 2 dev ${jobs} job${jobs > 1 ? 's' : ''}`,
  rw: 'randread',
  blockKiB: 4,
  iodepth: 32,
  jobs,
  devicesPerTarget: 2,
  metric: 'iops',
});

/** Every workload, in run and report order. */
export const WORKLOADS: readonly Workload[] = [
  rr(1),
  rr(32),
  {
    key: '4k-randwrite-qd32',
    label: '4k randwrite QD32',
    rw: 'randwrite',
    blockKiB: 4,
    iodepth: 32,
    jobs: 1,
    devicesPerTarget: 1,
    metric: 'iops',
  },
  { key: '128k-read-qd8', label: '128k seqread QD8', rw: 'read', blockKiB: 128, iodepth: 8, jobs: 1, devicesPerTarget: 1, metric: 'mbps' },
  {
    key: '128k-write-qd8',
    label: '128k seqwrite QD8',
    rw: 'write',
    blockKiB: 128,
    iodepth: 8,
    jobs: 1,
    devicesPerTarget: 1,
    metric: 'mbps',
  },
  scaled(1),
  scaled(4),
];

/** fio's options for a workload (random workloads: no random map, a fresh seed per run). */
export function fioWorkloadArgs(w: Workload): string[] {
  const args = [`--rw=${w.rw}`, `--bs=${w.blockKiB}k`, `--iodepth=${w.iodepth}`, `--numjobs=${w.jobs}`];
  if (w.rw.startsWith('rand')) args.push('--norandommap', '--randrepeat=0');
  return args;
}

/** Whether fio reports the workload in its "write" section (else "read"). */
export const writes = (w: Workload): boolean => w.rw === 'write' || w.rw === 'randwrite';
