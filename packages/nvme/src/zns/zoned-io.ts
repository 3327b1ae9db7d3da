/**
 * The NVM commands on a zoned namespace (ZNS §2.1.1): Write, Write Zeroes, Write Uncorrectable and
 * Copy only at the write pointer of one zone, Read, Compare and Verify subject to offline zones and
 * RAZB. Each built-in handler is wrapped: the zone rules run first (after the checks the command already
 * makes, in its order), then the handler; conventional namespaces go straight through.
 */
import type { ControllerCore } from '../core.ts';
import { requireNamespace, requireRange, requireTransferRange } from '../io/common.ts';
import { readCopyRanges } from '../io/copy.ts';
import type { Namespace } from '../namespace.ts';
import { IoOpcode } from '../opcodes.ts';
import type { CommandContext } from '../registry.ts';
import type { ZoneTable } from './zone-table.ts';

/** Zone rules of one opcode; returns whether the write must be durable at completion (FUA / no VWC). */
type ZoneRule = (ctx: CommandContext, ns: Namespace, zones: ZoneTable) => boolean | Promise<boolean>;

export function wrapZonedIo(core: ControllerCore): void {
  const mdts = (bytes: number) => core.transfer.checkMdts(bytes);
  const durable = (ctx: CommandContext) => ((ctx.entry.cdw12 >>> 30) & 1) === 1 || !core.features.volatileWriteCache;
  const read: ZoneRule = (ctx, _ns, zones) => {
    const { slba, nlb } = requireTransferRange(ctx, mdts);
    zones.checkRead(Number(slba), nlb);
    return false;
  };
  // Write Zeroes and Write Uncorrectable: SLBA and NLB like a Write, no data pointer.
  const writeWithoutData: ZoneRule = (ctx, ns, zones) => {
    const nlb = (ctx.entry.cdw12 & 0xffff) + 1;
    requireRange(ns, ctx.entry.qw10, nlb);
    zones.reserveWrite(Number(ctx.entry.qw10), nlb);
    return durable(ctx);
  };
  const rules = new Map<number, ZoneRule>([
    [IoOpcode.Read, read],
    [IoOpcode.Compare, read],
    [
      IoOpcode.Verify,
      (ctx, ns, zones) => {
        const nlb = (ctx.entry.cdw12 & 0xffff) + 1;
        requireRange(ns, ctx.entry.qw10, nlb);
        zones.checkRead(Number(ctx.entry.qw10), nlb);
        return false;
      },
    ],
    [
      IoOpcode.Write,
      (ctx, _ns, zones) => {
        const { slba, nlb } = requireTransferRange(ctx, mdts);
        zones.reserveWrite(Number(slba), nlb);
        return durable(ctx);
      },
    ],
    [IoOpcode.WriteZeroes, writeWithoutData],
    [IoOpcode.WriteUncorrectable, writeWithoutData],
    [
      IoOpcode.Copy,
      async (ctx, ns, zones) => {
        const { ranges, total } = await readCopyRanges(core, ctx, ns);
        for (const r of ranges) zones.checkRead(Number(r.slba), r.nlb);
        requireRange(ns, ctx.entry.qw10, total);
        zones.reserveWrite(Number(ctx.entry.qw10), total);
        return durable(ctx);
      },
    ],
  ]);
  for (const [opcode, rule] of rules) {
    const inner = core.io.get(opcode);
    if (!inner) continue;
    core.io.register(
      opcode,
      inner.name,
      async (ctx) => {
        const zones = ctx.namespace?.zones;
        if (!zones) return inner.handler(ctx);
        const ns = requireNamespace(ctx);
        const mustPersist = await rule(ctx, ns, zones);
        const outcome = await inner.handler(ctx);
        // The handler made the data durable; now the write pointer that covers it.
        if (mustPersist) await ns.persistZones();
        return outcome;
      },
      inner.effects,
      true,
    );
  }
}
