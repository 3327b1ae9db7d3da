/**
 * The timing model of one namespace: when a command's completion may be posted, computed in virtual
 * time when the command arrives. A command waits for a free channel (at most `channels` in service),
 * spends its sampled latency, then moves its data over the namespace's link of `…BytesPerSecond`
 * (one link per direction, shared by every command of the namespace).
 */
import { IoOpcode } from '../opcodes.ts';
import { distributionProblem, type LatencyDistribution, meanLatency, sampleLatency, seededRandom } from './distributions.ts';

/** The operations a timing model tells apart. */
export type TimedOperation = 'read' | 'write' | 'flush' | 'compare' | 'writeZeroes' | 'datasetManagement' | 'copy' | 'other';

/** What a timing model knows about one command when it arrives. */
export interface TimedCommand {
  /** I/O opcode (CDW0 bits 7:0). */
  opcode: number;
  /** What the opcode stands for; vendor and other opcodes are 'other'. */
  operation: TimedOperation;
  /** The namespace the command addresses. */
  nsid: number;
  /** The submission queue it came from. */
  sqid: number;
  /** Starting LBA (CDW10–11) of Read, Write, Compare and Write Zeroes; 0n otherwise. */
  slba: bigint;
  /** Logical blocks (CDW12 15:0 plus one) of Read, Write, Compare and Write Zeroes; 0 otherwise. */
  blocks: number;
  /** Bytes moved over the bus: `blocks` × LBA size for Read, Write and Compare; 0 otherwise. */
  bytes: number;
  /** Commands of this namespace that arrived earlier and have not completed yet (the queue depth it sees). */
  outstanding: number;
}

/**
 * A namespace's latency and bandwidth profile. Every I/O command to the namespace (whatever its
 * status) completes no earlier than the model says; commands still execute at once, only their
 * completion entries wait. Leave it out for a namespace as fast as the host allows.
 */
export interface NamespaceTiming {
  /** Latency of every operation without its own entry in `operations`, µs; default 0. */
  latency?: LatencyDistribution;
  /** Latency per operation, replacing `latency` for that operation. */
  operations?: Partial<Record<TimedOperation, LatencyDistribution>>;
  /** Host-bound data rate (Read, Compare), bytes/s; default unlimited. */
  readBytesPerSecond?: number;
  /** Controller-bound data rate (Write), bytes/s; default unlimited. */
  writeBytesPerSecond?: number;
  /**
   * Commands in service at once (flash channels/dies a drive works on in parallel); the rest wait
   * for one to finish. Default unlimited: latency does not grow with queue depth.
   */
  channels?: number;
  /**
   * Your own latency, µs, in place of `latency`/`operations` (channels and bandwidth still apply).
   * Called once per command when it arrives; must not throw.
   */
  delayUs?: (command: TimedCommand) => number;
  /** Seed of the latency draws, for runs that repeat exactly; default 1. */
  seed?: number;
}

/** Why `t` is not a usable timing profile, or undefined when it is. */
export function timingProblem(t: NamespaceTiming): string | undefined {
  const dists: [string, LatencyDistribution][] = [];
  if (t.latency !== undefined) dists.push(['latency', t.latency]);
  for (const [op, d] of Object.entries(t.operations ?? {})) if (d !== undefined) dists.push([`operations.${op}`, d]);
  for (const [name, d] of dists) {
    const problem = distributionProblem(d);
    if (problem) return `${name}: ${problem}`;
  }
  for (const key of ['readBytesPerSecond', 'writeBytesPerSecond'] as const) {
    const v = t[key];
    if (v !== undefined && !(v > 0 && Number.isFinite(v))) return `${key} must be a positive number`;
  }
  if (t.channels !== undefined && !(Number.isInteger(t.channels) && t.channels >= 1)) return 'channels must be an integer ≥ 1';
  return undefined;
}

/** The operation an I/O opcode stands for. */
export function timedOperation(opcode: number): TimedOperation {
  switch (opcode) {
    case IoOpcode.Read:
      return 'read';
    case IoOpcode.Write:
      return 'write';
    case IoOpcode.Flush:
      return 'flush';
    case IoOpcode.Compare:
      return 'compare';
    case IoOpcode.WriteZeroes:
      return 'writeZeroes';
    case IoOpcode.DatasetManagement:
      return 'datasetManagement';
    case IoOpcode.Copy:
      return 'copy';
    default:
      return 'other';
  }
}

/**
 * The modelled latency of one command alone on an idle namespace, µs: the mean of its latency
 * distribution plus `bytes` at the link rate. At queue depth 1 a drive with this profile completes
 * about 10⁶ / this many commands per second. `delayUs` profiles have no mean: undefined.
 */
export function idleLatencyUs(t: NamespaceTiming, operation: TimedOperation, bytes: number): number | undefined {
  if (t.delayUs) return undefined;
  const d = t.operations?.[operation] ?? t.latency ?? 0;
  const rate = linkRate(t, operation);
  return meanLatency(d) + (rate && bytes > 0 ? (bytes / rate) * 1e6 : 0);
}

function linkRate(t: NamespaceTiming, operation: TimedOperation): number | undefined {
  if (operation === 'read' || operation === 'compare') return t.readBytesPerSecond;
  if (operation === 'write') return t.writeBytesPerSecond;
  return undefined;
}

/** Virtual-time state of one namespace's model; times are µs on the caller's clock. */
export class NamespaceTimingModel {
  private readonly random: () => number;
  /** When each channel is free again (only with `channels`). */
  private readonly channelFree: number[];
  private readLinkFree = 0;
  private writeLinkFree = 0;

  constructor(private readonly t: NamespaceTiming) {
    const problem = timingProblem(t);
    if (problem) throw new RangeError(`namespace timing: ${problem}`);
    this.random = seededRandom(t.seed ?? 1);
    this.channelFree = new Array<number>(t.channels ?? 0).fill(0);
  }

  /** When the completion of `command`, arriving at `nowUs`, may be posted (µs, ≥ nowUs). */
  dueTime(command: TimedCommand, nowUs: number): number {
    let start = nowUs;
    let channel = -1;
    if (this.channelFree.length > 0) {
      channel = 0;
      for (let i = 1; i < this.channelFree.length; i++)
        if ((this.channelFree[i] as number) < (this.channelFree[channel] as number)) channel = i;
      start = Math.max(nowUs, this.channelFree[channel] as number);
    }
    const latency = this.latencyOf(command);
    let done = start + latency;
    const rate = linkRate(this.t, command.operation);
    if (rate && command.bytes > 0) {
      const transfer = (command.bytes / rate) * 1e6;
      if (command.operation === 'write') {
        done = Math.max(done, this.writeLinkFree) + transfer;
        this.writeLinkFree = done;
      } else {
        done = Math.max(done, this.readLinkFree) + transfer;
        this.readLinkFree = done;
      }
    }
    if (channel >= 0) this.channelFree[channel] = done;
    return done;
  }

  private latencyOf(command: TimedCommand): number {
    if (this.t.delayUs) {
      const v = this.t.delayUs(command);
      return Number.isFinite(v) && v > 0 ? v : 0;
    }
    const d = this.t.operations?.[command.operation] ?? this.t.latency;
    return d === undefined ? 0 : sampleLatency(d, this.random);
  }
}
