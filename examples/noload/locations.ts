/**
 * Where a NoLoad command's input comes from and its output goes: the data pointer (host memory,
 * or any bus address the PRPs/SGL name — the CMB included), a CMB byte range, or namespace blocks.
 */
import { type CommandContext, CommandError, Status } from '@p2pkit/nvme';

/** CTL source / destination field values. */
export const Place = { DataPointer: 0, Cmb: 1, Namespace: 2 } as const;

/** Largest input or output of one command (reported in Identify Controller's vendor bytes). */
export const MAX_BYTES = 64 << 20;

/** What the NoLoad commands did (log page C0h). */
export interface NoloadStats {
  commands: { compress: number; decompress: number; crc32c: number };
  bytesIn: number;
  bytesOut: number;
}

function cmbRange(ctx: CommandContext, offset: bigint, length: number): Uint8Array {
  const cmb = ctx.cmb;
  if (!cmb) throw new CommandError(Status.InvalidField, 'this controller has no CMB');
  if (length > MAX_BYTES || offset + BigInt(length) > BigInt(cmb.length)) {
    throw new CommandError(Status.InvalidField, `CMB range ${offset}+${length} outside the ${cmb.length}-byte CMB`);
  }
  return cmb.subarray(Number(offset), Number(offset) + length);
}

// #region source
/** Reads the source named by CTL bits 3:0. Range errors are the host's mistakes (CommandError). */
export async function readSource(ctx: CommandContext, place: number): Promise<Uint8Array> {
  const e = ctx.entry;
  switch (place) {
    case Place.DataPointer:
      return ctx.fromHost(e.cdw12); // PRP/SGL walk and MDTS check included
    case Place.Cmb:
      return cmbRange(ctx, e.qw10, e.cdw12).slice();
    case Place.Namespace: {
      const { namespace, slba, nlb } = ctx.requireTransferRange(); // namespace, MDTS, LBA range
      return namespace.read(slba, nlb);
    }
    default:
      throw new CommandError(Status.InvalidField, `CTL source ${place} is reserved`);
  }
}
// #endregion source

/** Writes `data` to the destination named by CTL bits 7:4 (capacity already checked against DSTLEN). */
export async function writeDestination(ctx: CommandContext, place: number, data: Uint8Array): Promise<void> {
  const e = ctx.entry;
  switch (place) {
    case Place.DataPointer:
      return ctx.toHost(data);
    case Place.Cmb:
      cmbRange(ctx, BigInt(e.cdw14), e.cdw15).set(data);
      return;
    case Place.Namespace: {
      const ns = ctx.namespace;
      if (!ns) throw new CommandError(Status.InvalidNamespaceOrFormat, `namespace ${e.nsid} is not active`);
      const blocks = Math.ceil(data.length / ns.lbaSize);
      if (!ns.inRange(BigInt(e.cdw14), blocks)) throw new CommandError(Status.LbaOutOfRange, `destination LBA ${e.cdw14}+${blocks}`);
      const padded = new Uint8Array(blocks * ns.lbaSize); // the last block is zero-filled
      padded.set(data);
      await ns.write(BigInt(e.cdw14), padded, true);
      return;
    }
    default:
      throw new CommandError(Status.InvalidField, `CTL destination ${place} is reserved`);
  }
}
