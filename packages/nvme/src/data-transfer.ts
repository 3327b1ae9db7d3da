import type { SubmissionEntry } from './command.ts';
import { CommandError } from './command-error.ts';
import type { BusMemory } from './memory.ts';
import { walkPrp } from './prp.ts';
import type { ListRead, Segment, SegmentWalk, WalkSteps } from './segments.ts';
import { walkSgl } from './sgl.ts';
import { Status } from './status.ts';

/**
 * Moves a command's data between a controller buffer and the buffer its DPTR describes
 * (PRPs or SGLs), enforcing MDTS. Failures throw CommandError; DMA faults throw DmaError.
 */
export class DataTransfer {
  constructor(
    private readonly mem: BusMemory,
    private readonly pageSize: () => number,
    /** MDTS in bytes; 0 = unlimited. */
    readonly maxBytes: number,
  ) {}

  /** Throws Invalid Field when `length` exceeds MDTS (§5.15.2.1 MDTS). */
  checkMdts(length: number): void {
    if (this.maxBytes !== 0 && length > this.maxBytes) {
      throw new CommandError(Status.InvalidField, `transfer of ${length} bytes exceeds MDTS (${this.maxBytes})`);
    }
  }

  /** The segments of `cmd`'s data buffer (see {@link DataTransfer.locate}). */
  async segments(cmd: SubmissionEntry, length: number, toHost: boolean): Promise<Segment[]> {
    return this.locate(cmd, length, toHost);
  }

  /**
   * The segments of `cmd`'s data buffer, without a promise when every PRP/SGL list it reads lies
   * in mapped memory (the common case: the fast path of Read and Write), else as a promise.
   * Throws (or rejects) CommandError for a bad data pointer.
   */
  locate(cmd: SubmissionEntry, length: number, toHost: boolean): Segment[] | Promise<Segment[]> {
    this.checkMdts(length);
    let steps: WalkSteps;
    switch (cmd.psdt) {
      case 0:
        steps = walkPrp(cmd.prp1, cmd.prp2, length, this.pageSize());
        break;
      case 1:
      case 2:
        // SGLs are for I/O commands only on PCIe (§4.3.2).
        if (cmd.isAdmin) throw new CommandError(Status.InvalidField, 'SGL on an admin command');
        steps = walkSgl(cmd.sgl1, length, toHost);
        break;
      default:
        throw new CommandError(Status.InvalidField, 'reserved PSDT value 3');
    }
    let step = steps.next();
    while (!step.done) {
      const bytes = this.mem.bytesAt(step.value.address, step.value.length, false);
      if (!bytes) return this.finishWalk(cmd, steps, step.value);
      step = steps.next(bytes);
    }
    return this.checked(cmd, step.value);
  }

  /** Continues a walk whose next list needs a DMA message. */
  private async finishWalk(cmd: SubmissionEntry, steps: WalkSteps, pending: ListRead): Promise<Segment[]> {
    let step = steps.next(await this.mem.read(pending.address, pending.length));
    while (!step.done) step = steps.next(await this.mem.read(step.value.address, step.value.length));
    return this.checked(cmd, step.value);
  }

  private checked(cmd: SubmissionEntry, walk: SegmentWalk): Segment[] {
    if (!walk.ok) throw new CommandError(walk.status, walk.message, true, { cid: cmd.cid, sqid: cmd.sqid });
    return walk.segments;
  }

  /** Copies `data` to the host buffer of `cmd`. */
  async toHost(cmd: SubmissionEntry, data: Uint8Array): Promise<void> {
    await this.copyToHost(await this.segments(cmd, data.byteLength, true), data);
  }

  /** Reads `length` bytes from the host buffer of `cmd`. */
  async fromHost(cmd: SubmissionEntry, length: number): Promise<Uint8Array> {
    return this.copyFromHost(await this.segments(cmd, length, false), length);
  }

  /**
   * Zero-copy views of the host buffer `segments` describe, or undefined (Bit Bucket, DMA by
   * messages only): see {@link BusMemory.views}. Use them before the next await.
   */
  views(segments: readonly Segment[], toHost: boolean): Uint8Array[] | undefined {
    return this.mem.views(segments, toHost);
  }

  /** Copies `data` to the host buffer `segments` describe (Bit Bucket pieces skipped). */
  async copyToHost(segments: readonly Segment[], data: Uint8Array): Promise<void> {
    let off = 0;
    for (const s of segments) {
      if (!s.bitBucket) await this.mem.write(s.address, data.subarray(off, off + s.length));
      off += s.length;
    }
  }

  /** Reads `length` bytes from the host buffer `segments` describe. */
  async copyFromHost(segments: readonly Segment[], length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    let off = 0;
    for (const s of segments) {
      await this.mem.readInto(s.address, out, off, s.length);
      off += s.length;
    }
    return out;
  }
}
