import { CommandError } from '../command-error.ts';
import type { ControllerCore } from '../core.ts';
import { Effects, IoOpcode } from '../opcodes.ts';
import type { CommandResult } from '../registry.ts';
import { Status } from '../status.ts';
import { requireNamespace, requireRange, requireTransferRange } from './common.ts';
import { requireReadable } from './write-uncorrectable.ts';

/** Read, Write, Compare, Verify (NVM command set §3.2.6, §3.3.6, §3.2.1, §3.2.8). */
export function registerReadWrite(core: ControllerCore): void {
  const health = core.health;
  const stats = core.stats;
  const mdts = (bytes: number) => core.transfer.checkMdts(bytes);

  core.io.register(IoOpcode.Read, 'Read', async (ctx): Promise<CommandResult> => {
    const { ns, slba, nlb, bytes } = requireTransferRange(ctx, mdts);
    requireReadable(core, ns, slba, nlb);
    const segments = await core.transfer.segments(ctx.entry, bytes, true);
    // Fast path: the image straight into the mapped host pages (no copy, no thread-pool hop).
    const views = core.transfer.views(segments, true);
    if (views) ns.readInto(slba, views);
    else await core.transfer.copyToHost(segments, await ns.read(slba, nlb));
    health.hostReads++;
    health.sectorsRead += BigInt(bytes >>> 9);
    stats.bytesRead += bytes;
    return {};
  });

  core.io.register(
    IoOpcode.Write,
    'Write',
    async (ctx): Promise<CommandResult> => {
      const { ns, slba, bytes } = requireTransferRange(ctx, mdts);
      const fua = (ctx.entry.cdw12 >>> 30) & 1;
      // FUA, or no volatile write cache: durable before completion.
      const durable = fua === 1 || !core.features.volatileWriteCache;
      const segments = await core.transfer.segments(ctx.entry, bytes, false);
      const views = core.transfer.views(segments, false);
      if (views) await ns.writeFrom(slba, views, durable);
      else await ns.write(slba, await core.transfer.copyFromHost(segments, bytes), durable);
      health.hostWrites++;
      health.sectorsWritten += BigInt(bytes >>> 9);
      stats.bytesWritten += bytes;
      return {};
    },
    Effects.LbaContentChange,
  );

  core.io.register(IoOpcode.Compare, 'Compare', async (ctx): Promise<CommandResult> => {
    const { ns, slba, nlb, bytes } = requireTransferRange(ctx, mdts);
    requireReadable(core, ns, slba, nlb);
    const [host, media] = await Promise.all([ctx.fromHost(bytes), ns.read(slba, nlb)]);
    for (let i = 0; i < host.byteLength; i++) {
      if (host[i] !== media[i]) throw new CommandError(Status.CompareFailure, 'compare mismatch', false);
    }
    return {};
  });

  core.io.register(IoOpcode.Verify, 'Verify', (ctx): CommandResult => {
    const ns = requireNamespace(ctx);
    const nlb = (ctx.entry.cdw12 & 0xffff) + 1;
    requireRange(ns, ctx.entry.qw10, nlb);
    // Data lives in a file: only blocks marked by Write Uncorrectable are unreadable.
    requireReadable(core, ns, ctx.entry.qw10, nlb);
    return {};
  });
}
