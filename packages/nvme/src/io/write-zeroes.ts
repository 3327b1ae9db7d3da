import type { ControllerCore } from '../core.ts';
import { Effects, IoOpcode } from '../opcodes.ts';
import type { CommandResult } from '../registry.ts';
import { requireNamespace, requireRange } from './common.ts';

/** Write Zeroes (NVM command set §3.2.9): no data transfer; DEAC may deallocate (DLFEAT bit 3). */
export function registerWriteZeroes(core: ControllerCore): void {
  core.io.register(
    IoOpcode.WriteZeroes,
    'Write Zeroes',
    async (ctx): Promise<CommandResult> => {
      const ns = requireNamespace(ctx);
      const slba = ctx.entry.qw10;
      const nlb = (ctx.entry.cdw12 & 0xffff) + 1;
      const fua = (ctx.entry.cdw12 >>> 30) & 1;
      requireRange(ns, slba, nlb);
      // With or without DEAC the blocks must read back as zeroes; punching does both.
      await ns.deallocate(slba, nlb);
      if (fua === 1 || !core.features.volatileWriteCache) await ns.flush();
      core.health.hostWrites++;
      return {};
    },
    Effects.LbaContentChange,
  );
}
