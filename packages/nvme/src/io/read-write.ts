import { CommandError } from '../command-error.ts';
import type { ControllerCore } from '../core.ts';
import type { Namespace } from '../namespace.ts';
import { Effects, IoOpcode } from '../opcodes.ts';
import type { CommandResult } from '../registry.ts';
import type { Segment } from '../segments.ts';
import { Status } from '../status.ts';
import { requireNamespace, requireRange, requireTransferRange } from './common.ts';
import { requireReadable } from './write-uncorrectable.ts';

/** The result of every successful Read/Write (shared: results are not modified after return). */
const SUCCESS: CommandResult = Object.freeze({});

/** Read, Write, Compare, Verify (NVM command set §3.2.6, §3.3.6, §3.2.1, §3.2.8). */
export function registerReadWrite(core: ControllerCore): void {
  const health = core.health;
  const stats = core.stats;
  const mdts = (bytes: number) => core.transfer.checkMdts(bytes);
  const readDone = (bytes: number): CommandResult => {
    health.hostReads++;
    health.sectorsRead += BigInt(bytes >>> 9);
    stats.bytesRead += bytes;
    return SUCCESS;
  };
  const writeDone = (bytes: number): CommandResult => {
    health.hostWrites++;
    health.sectorsWritten += BigInt(bytes >>> 9);
    stats.bytesWritten += bytes;
    return SUCCESS;
  };

  // Read and Write return without a promise when the data pointer's lists and buffers lie in
  // mapped memory and nothing waits for the disk: the command then completes in the same drain of
  // its SQ as it was fetched in, with no promise hop (see QueueEngine: completions per drain).
  // The per-command work is in plain functions (no closure per command on the fast path).
  const read = (ns: Namespace, slba: bigint, nlb: number, bytes: number, segments: Segment[]): CommandResult | Promise<CommandResult> => {
    // Fast path: the image straight into the mapped host pages (no copy, no thread-pool hop).
    const views = core.transfer.views(segments, true);
    if (!views) return ns.read(slba, nlb).then((data) => core.transfer.copyToHost(segments, data).then(() => readDone(bytes)));
    ns.readInto(slba, views);
    return readDone(bytes);
  };
  const write = (
    ns: Namespace,
    slba: bigint,
    bytes: number,
    durable: boolean,
    segments: Segment[],
  ): CommandResult | Promise<CommandResult> => {
    const views = core.transfer.views(segments, false);
    if (!views)
      return core.transfer
        .copyFromHost(segments, bytes)
        .then((data) => ns.write(slba, data, durable))
        .then(() => writeDone(bytes));
    const synced = ns.writeFrom(slba, views, durable);
    return synced ? synced.then(() => writeDone(bytes)) : writeDone(bytes);
  };

  core.io.register(IoOpcode.Read, 'Read', (ctx): CommandResult | Promise<CommandResult> => {
    const { ns, slba, nlb, bytes } = requireTransferRange(ctx, mdts);
    requireReadable(core, ns, slba, nlb);
    const located = core.transfer.locate(ctx.entry, bytes, true);
    return located instanceof Promise
      ? located.then((segments) => read(ns, slba, nlb, bytes, segments))
      : read(ns, slba, nlb, bytes, located);
  });

  core.io.register(
    IoOpcode.Write,
    'Write',
    (ctx): CommandResult | Promise<CommandResult> => {
      const { ns, slba, bytes } = requireTransferRange(ctx, mdts);
      const fua = (ctx.entry.cdw12 >>> 30) & 1;
      // FUA, or no volatile write cache: durable before completion.
      const durable = fua === 1 || !core.features.volatileWriteCache;
      const located = core.transfer.locate(ctx.entry, bytes, false);
      return located instanceof Promise
        ? located.then((segments) => write(ns, slba, bytes, durable, segments))
        : write(ns, slba, bytes, durable, located);
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
