import type { SubmissionEntry } from './command.ts';
import { CommandError } from './command-error.ts';
import type { BusMemory } from './memory.ts';
import type { Segment } from './segments.ts';
import { walkSgl } from './sgl.ts';
import { Status } from './status.ts';

/**
 * Where the separate metadata of a command lives (NVMe 2.0 base §4.2, MPTR): with PRPs or PSDT 01b
 * a contiguous buffer at MPTR; with PSDT 10b MPTR points at an SGL descriptor (a data block, or a
 * segment that starts a list). An address outside guest memory surfaces as a DmaError — Data
 * Transfer Error — when the bytes move.
 */
export async function metadataSegments(mem: BusMemory, entry: SubmissionEntry, length: number, toHost: boolean): Promise<Segment[]> {
  if (entry.psdt !== 2) return [{ address: entry.mptr, length }];
  const steps = walkSgl(await mem.read(entry.mptr, 16), length, toHost);
  let step = steps.next();
  while (!step.done) step = steps.next(await mem.read(step.value.address, step.value.length));
  const walk = step.value;
  if (walk.ok) return walk.segments;
  // A short list describes too little metadata, not data.
  const status = walk.status === Status.DataSglLengthInvalid ? Status.MetadataSglLengthInvalid : walk.status;
  throw new CommandError(status, `metadata SGL: ${walk.message}`, true, { cid: entry.cid, sqid: entry.sqid });
}
