import { CommandError } from '../command-error.ts';
import type { ControllerCore } from '../core.ts';
import { Effects, IoOpcode } from '../opcodes.ts';
import type { CommandResult } from '../registry.ts';
import { Status } from '../status.ts';
import { requireNamespace, requireRange, requireTransferRange } from './common.ts';

/** Read, Write, Compare, Verify (NVM command set §3.2.6, §3.3.6, §3.2.1, §3.2.8). */
export function registerReadWrite(core: ControllerCore): void {
  const health = core.health;
  const stats = core.stats;
  const mdts = (bytes: number) => core.transfer.checkMdts(bytes);

  core.io.register(IoOpcode.Read, 'Read', async (ctx): Promise<CommandResult> => {
    const { ns, slba, nlb } = requireTransferRange(ctx, mdts);
    const data = await ns.read(slba, nlb);
    await ctx.toHost(data);
    health.hostReads++;
    health.sectorsRead += BigInt(data.byteLength >>> 9);
    stats.bytesRead += data.byteLength;
    return {};
  });

  core.io.register(
    IoOpcode.Write,
    'Write',
    async (ctx): Promise<CommandResult> => {
      const { ns, slba, bytes } = requireTransferRange(ctx, mdts);
      const fua = (ctx.entry.cdw12 >>> 30) & 1;
      const data = await ctx.fromHost(bytes);
      // FUA, or no volatile write cache: durable before completion.
      await ns.write(slba, data, fua === 1 || !core.features.volatileWriteCache);
      health.hostWrites++;
      health.sectorsWritten += BigInt(data.byteLength >>> 9);
      stats.bytesWritten += data.byteLength;
      return {};
    },
    Effects.LbaContentChange,
  );

  core.io.register(IoOpcode.Compare, 'Compare', async (ctx): Promise<CommandResult> => {
    const { ns, slba, nlb, bytes } = requireTransferRange(ctx, mdts);
    const [host, media] = await Promise.all([ctx.fromHost(bytes), ns.read(slba, nlb)]);
    for (let i = 0; i < host.byteLength; i++) {
      if (host[i] !== media[i]) throw new CommandError(Status.CompareFailure, 'compare mismatch', false);
    }
    return {};
  });

  core.io.register(IoOpcode.Verify, 'Verify', (ctx): CommandResult => {
    const ns = requireNamespace(ctx);
    requireRange(ns, ctx.entry.qw10, (ctx.entry.cdw12 & 0xffff) + 1);
    // Data lives in a file: nothing can be unreadable, so a range check is the whole verify.
    return {};
  });
}
