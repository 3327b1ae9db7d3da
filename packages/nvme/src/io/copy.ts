import { CommandError } from '../command-error.ts';
import type { ControllerCore } from '../core.ts';
import { COPY_LIMITS } from '../identify-data.ts';
import type { Namespace } from '../namespace.ts';
import { Effects, IoOpcode } from '../opcodes.ts';
import { generateProtection, protectionFieldsOf, protectionLayout } from '../pi/protection.ts';
import type { CommandContext, CommandResult } from '../registry.ts';
import { Status } from '../status.ts';
import { requireNamespace, requireRange } from './common.ts';
import { requireReadable } from './write-uncorrectable.ts';

/**
 * The source ranges of a Copy (CDW12 NR, DESFMT; Source Range Entries format 0, 32 bytes each),
 * read from the host and checked against MSRC, MSSRL, MCL, the namespace and its uncorrectable blocks.
 */
export async function readCopyRanges(
  core: ControllerCore,
  ctx: CommandContext,
  ns: Namespace,
): Promise<{ ranges: { slba: bigint; nlb: number }[]; total: number }> {
  const nr = (ctx.entry.cdw12 & 0xff) + 1;
  const desfmt = (ctx.entry.cdw12 >>> 8) & 0xf;
  if (desfmt !== 0) throw new CommandError(Status.InvalidField, `Copy descriptor format ${desfmt}`);
  if (nr > COPY_LIMITS.msrc + 1) throw new CommandError(Status.CommandSizeLimitExceeded, `${nr} source ranges > MSRC`);
  const data = await ctx.fromHost(nr * 32);
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const ranges: { slba: bigint; nlb: number }[] = [];
  let total = 0;
  for (let i = 0; i < nr; i++) {
    const slba = v.getBigUint64(i * 32 + 8, true);
    const nlb = v.getUint16(i * 32 + 16, true) + 1;
    if (nlb > COPY_LIMITS.mssrl) throw new CommandError(Status.CommandSizeLimitExceeded, `range ${i}: ${nlb} blocks > MSSRL`);
    requireRange(ns, slba, nlb);
    requireReadable(core, ns, slba, nlb);
    ranges.push({ slba, nlb });
    total += nlb;
  }
  if (total > COPY_LIMITS.mcl) throw new CommandError(Status.CommandSizeLimitExceeded, `${total} blocks > MCL`);
  return { ranges, total };
}

/** Copy (NVM command set §3.3.1) with Source Range Entries format 0 (32 bytes each). */
export function registerCopy(core: ControllerCore): void {
  core.io.register(
    IoOpcode.Copy,
    'Copy',
    async (ctx): Promise<CommandResult> => {
      const ns = requireNamespace(ctx);
      const sdlba = ctx.entry.qw10;
      const fua = (ctx.entry.cdw12 >>> 30) & 1;
      const { ranges, total } = await readCopyRanges(core, ctx, ns);
      requireRange(ns, sdlba, total);
      // Read every source first so overlapping source/destination behave like a buffered copy.
      const chunks = [];
      for (const r of ranges) chunks.push({ data: await ns.read(r.slba, r.nlb), meta: await ns.metadata?.read(r.slba, r.nlb) });
      // Metadata moves with its blocks; PRINFOW.PRACT regenerates the PI for the destination LBAs.
      const layout = protectionLayout(ns.format);
      const fields = protectionFieldsOf(ctx.entry);
      let dst = sdlba;
      for (const c of chunks) {
        if (c.meta && layout && fields.pract) {
          generateProtection(layout, { ...fields, ilbrt: (fields.ilbrt + Number(dst - sdlba)) >>> 0 }, dst, c.data, c.meta);
        }
        if (c.meta) await ns.metadata?.write(dst, c.meta);
        await ns.write(dst, c.data, false);
        dst += BigInt(c.data.byteLength / ns.lbaSize);
      }
      if (fua === 1 || !core.features.volatileWriteCache) await ns.flush();
      return {};
    },
    Effects.LbaContentChange,
  );
}
