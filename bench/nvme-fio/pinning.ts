/**
 * `--pin`: the layout libvirt calls vcpupin / emulatorpin. The guest's vCPU 0, where fio runs
 * (`--cpus_allowed=0`), gets a host CPU of its own; QEMU's other threads (main loop, I/O workers,
 * the other vCPU) and this process (the p2pkit servers) share the remaining CPUs. Every device of a
 * run gets the same layout, QEMU's nvme included. Without it the guest's busy vCPU shares the host's
 * cores with the device emulation, and the scheduler, not the device, decides much of a run.
 */
import { NativeError, setThreadAffinity, threadAffinity } from '@p2pkit/native';
import { readProc, threadIds, vcpuIndex } from './host-cpu.ts';

/** Host CPUs per role. */
export interface PinLayout {
  /** The host CPU of the guest's vCPU 0 (alone). */
  vcpu0: number;
  /** The host CPUs of every other thread of QEMU and of this process. */
  rest: number[];
}

/** fio's option that keeps the guest's jobs on vCPU 0. */
export const FIO_PIN_ARGS = ['--cpus_allowed=0'] as const;

/**
 * The layout over the CPUs this process may use (`taskset` around the bench narrows them): the
 * first for vCPU 0, the others for the rest. Undefined when there are fewer than two.
 */
export function pinLayout(allowed: readonly number[]): PinLayout | undefined {
  const [vcpu0, ...rest] = allowed;
  return vcpu0 === undefined || rest.length === 0 ? undefined : { vcpu0, rest };
}

/** The layout over this process's CPUs (see {@link pinLayout}). */
export function currentPinLayout(): PinLayout | undefined {
  return pinLayout(threadAffinity(0));
}

/** Where one thread goes: vCPU 0 alone, anything else with the rest. */
export function cpusFor(threadName: string, layout: PinLayout): number[] {
  return vcpuIndex(threadName) === 0 ? [layout.vcpu0] : layout.rest;
}

/** Thread ids and names of a process, from /proc (threads that end meanwhile are skipped). */
function threads(pid: number | 'self'): { tid: number; name: string }[] {
  const out: { tid: number; name: string }[] = [];
  for (const tid of threadIds(pid)) {
    const name = readProc(`/proc/${pid}/task/${tid}/comm`);
    if (name !== undefined) out.push({ tid: Number(tid), name: name.trim() });
  }
  return out;
}

/**
 * Applies the layout to every current thread of QEMU (`qemuPid`) and of this process; threads they
 * start later inherit their creator's CPUs, so it is applied again before every run. Returns the
 * number of vCPU 0 threads pinned (1 when QEMU is up). A thread that ended meanwhile is skipped.
 */
export function applyPinning(qemuPid: number, layout: PinLayout): number {
  let vcpu0 = 0;
  const pin = (tid: number, cpus: number[]) => {
    try {
      setThreadAffinity(tid, cpus);
    } catch (e) {
      if (!(e instanceof NativeError && e.code === 'ESRCH')) throw e;
    }
  };
  for (const t of threads('self')) pin(t.tid, layout.rest);
  for (const t of threads(qemuPid)) {
    if (vcpuIndex(t.name) === 0) vcpu0++;
    pin(t.tid, cpusFor(t.name, layout));
  }
  return vcpu0;
}

/** One line for the report. */
export function describePinning(layout: PinLayout): string {
  return `pinned (--pin): guest vCPU 0 (fio, --cpus_allowed=0) alone on host CPU ${layout.vcpu0}; QEMU's other threads and the servers on CPU ${layout.rest.join(',')}`;
}
