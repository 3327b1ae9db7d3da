import { CommandError } from '../command-error.ts';
import type { ControllerCore } from '../core.ts';
import { requireRange } from '../io/common.ts';
import { Effects, IoOpcode } from '../opcodes.ts';
import type { CommandResult } from '../registry.ts';
import { Status } from '../status.ts';
import { requireZoned } from './common.ts';

/**
 * Zone Append (7Dh, ZNS §3.4.1): the data goes to the zone's write pointer, whose LBA the completion
 * returns in DW0 (low) and DW1 (high). The position is taken before any await, so appends to one
 * zone land in the order they are executed.
 */
export function registerZoneAppend(core: ControllerCore): void {
  const zaslBytes = core.options.zasl === 0 ? 0 : 4096 * 2 ** core.options.zasl;
  core.io.register(
    IoOpcode.ZoneAppend,
    'Zone Append',
    async (ctx): Promise<CommandResult> => {
      const { ns, zones } = requireZoned(ctx);
      const zslba = ctx.entry.qw10;
      const nlb = (ctx.entry.cdw12 & 0xffff) + 1;
      const fua = (ctx.entry.cdw12 >>> 30) & 1;
      const bytes = nlb * ns.lbaSize;
      core.transfer.checkMdts(bytes);
      if (zaslBytes !== 0 && bytes > zaslBytes)
        throw new CommandError(Status.InvalidField, `Zone Append of ${bytes} bytes > ZASL (${zaslBytes})`);
      requireRange(ns, zslba, 1);
      const lba = zones.reserveAppend(Number(zslba), nlb);
      const durable = fua === 1 || !core.features.volatileWriteCache;
      await ns.write(BigInt(lba), await ctx.fromHost(bytes), durable);
      if (durable) await ns.persistZones();
      core.health.hostWrites++;
      core.health.sectorsWritten += BigInt(bytes >>> 9);
      core.stats.bytesWritten += bytes;
      return { dw0: lba % 2 ** 32, dw1: Math.floor(lba / 2 ** 32) };
    },
    Effects.LbaContentChange,
  );
}
