import { CommandError } from '../command-error.ts';
import type { Namespace } from '../namespace.ts';
import type { CommandContext } from '../registry.ts';
import { Status } from '../status.ts';

/** The command's active namespace, or Invalid Namespace or Format (NVM §3.2). */
export function requireNamespace(ctx: CommandContext): Namespace {
  const ns = ctx.namespace;
  if (!ns) throw new CommandError(Status.InvalidNamespaceOrFormat, `nsid ${ctx.entry.nsid} not active`, true, { nsid: ctx.entry.nsid });
  return ns;
}

/** LBA Out of Range when [slba, slba + count) leaves the namespace. */
export function requireRange(ns: Namespace, slba: bigint, count: number | bigint): void {
  if (!ns.inRange(slba, count)) {
    throw new CommandError(Status.LbaOutOfRange, `LBA ${slba}+${count} beyond ${ns.blocks}`, true, { nsid: ns.nsid });
  }
}

/** The data range of a Read/Write/Compare: active namespace, MDTS, then LBA range — in that order. */
export function requireTransferRange(
  ctx: CommandContext,
  checkMdts: (bytes: number) => void,
): { ns: Namespace; slba: bigint; nlb: number; bytes: number } {
  const ns = requireNamespace(ctx);
  const slba = ctx.entry.qw10;
  const nlb = (ctx.entry.cdw12 & 0xffff) + 1;
  const bytes = nlb * ns.lbaSize;
  checkMdts(bytes);
  requireRange(ns, slba, nlb);
  return { ns, slba, nlb, bytes };
}
