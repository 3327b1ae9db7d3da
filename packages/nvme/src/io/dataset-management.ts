import { CommandError } from '../command-error.ts';
import type { ControllerCore } from '../core.ts';
import { Effects, IoOpcode } from '../opcodes.ts';
import type { CommandResult } from '../registry.ts';
import { Status } from '../status.ts';
import { requireNamespace } from './common.ts';

/** Dataset Management (NVM command set §3.2.3): AD deallocates ranges (punched holes read as zero). */
export function registerDatasetManagement(core: ControllerCore): void {
  core.io.register(
    IoOpcode.DatasetManagement,
    'Dataset Management',
    async (ctx): Promise<CommandResult> => {
      const ns = requireNamespace(ctx);
      const nr = (ctx.entry.cdw10 & 0xff) + 1;
      const deallocate = (ctx.entry.cdw11 & 4) !== 0;
      const data = await ctx.fromHost(nr * 16);
      const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
      const ranges: { slba: bigint; nlb: number }[] = [];
      for (let i = 0; i < nr; i++) {
        const nlb = v.getUint32(i * 16 + 4, true); // 1-based length
        const slba = v.getBigUint64(i * 16 + 8, true);
        if (!ns.inRange(slba, nlb)) throw new CommandError(Status.LbaOutOfRange, `DSM range ${i}: ${slba}+${nlb}`);
        ranges.push({ slba, nlb });
      }
      // IDR/IDW/attributes are hints only.
      if (deallocate) for (const r of ranges) if (r.nlb > 0) await ns.deallocate(r.slba, r.nlb);
      return {};
    },
    Effects.LbaContentChange,
  );
}
