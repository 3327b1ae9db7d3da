import { CommandError } from '../command-error.ts';
import type { ControllerCore } from '../core.ts';
import type { Namespace } from '../namespace.ts';
import { Effects, IoOpcode } from '../opcodes.ts';
import type { CommandResult } from '../registry.ts';
import { Status } from '../status.ts';
import { requireNamespace, requireRange } from './common.ts';

/**
 * Write Uncorrectable (NVM command set §3.3.7, ONCS bit 1): marks SLBA..SLBA+NLB invalid. Reads of a
 * marked block then fail with Unrecovered Read Error until a Write, Write Zeroes, Copy destination
 * or Deallocate rewrites it (see `Namespace.uncorrectable`). No data moves; the image keeps its bytes.
 */
export function registerWriteUncorrectable(core: ControllerCore): void {
  core.io.register(
    IoOpcode.WriteUncorrectable,
    'Write Uncorrectable',
    async (ctx): Promise<CommandResult> => {
      const ns = requireNamespace(ctx);
      const slba = ctx.entry.qw10;
      const nlb = (ctx.entry.cdw12 & 0xffff) + 1;
      requireRange(ns, slba, nlb);
      await ns.uncorrectable.mark(slba, BigInt(nlb));
      core.health.hostWrites++;
      return {};
    },
    Effects.LbaContentChange,
  );
}

/**
 * Unrecovered Read Error (SCT 2h, SC 81h) when a block of [slba, slba + nlb) is marked
 * uncorrectable: what Read, Compare, Verify and Copy (its sources) report for media they cannot
 * read. Counted in SMART's Media and Data Integrity Errors; the error log gets the first such LBA.
 */
export function requireReadable(core: ControllerCore, ns: Namespace, slba: bigint, nlb: number): void {
  const lba = ns.uncorrectable.firstIn(slba, BigInt(nlb));
  if (lba === undefined) return;
  core.health.mediaErrors++;
  throw new CommandError(Status.UnrecoveredReadError, `LBA ${lba} is uncorrectable`, false, { nsid: ns.nsid, lba });
}
