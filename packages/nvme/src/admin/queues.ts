import { CommandError } from '../command-error.ts';
import type { ControllerCore } from '../core.ts';
import { AdminOpcode } from '../opcodes.ts';
import { CompletionQueue, SubmissionQueue } from '../queues.ts';
import { CQE_SIZE_LOG, cc, SQE_SIZE_LOG } from '../registers.ts';
import type { CommandContext, CommandResult } from '../registry.ts';
import { Status } from '../status.ts';

/** Create/Delete I/O Submission/Completion Queue (NVMe 2.0 base §5.4, §5.5, §5.6, §5.7). */
export function registerQueueCommands(core: ControllerCore): void {
  const fail = (status: number, message: string, detail?: Record<string, unknown>): never => {
    throw new CommandError(status, message, true, detail);
  };

  /** Shared checks: queue size, contiguity, base alignment, CMB placement. */
  const checkGeometry = (ctx: CommandContext, kind: 'SQ' | 'CQ'): { qid: number; size: number; base: bigint; inCmb: boolean } => {
    const { entry } = ctx;
    const qid = entry.cdw10 & 0xffff;
    const size = (entry.cdw10 >>> 16) + 1;
    const base = entry.prp1;
    const es = kind === 'SQ' ? cc.iosqes(core.cc) : cc.iocqes(core.cc);
    if (es !== (kind === 'SQ' ? SQE_SIZE_LOG : CQE_SIZE_LOG)) fail(Status.InvalidField, `CC.IO${kind}ES is ${es}`);
    if (size < 2 || size > core.options.maxQueueEntries) fail(Status.InvalidQueueSize, `${kind} size ${size}`, { qid });
    if ((entry.cdw11 & 1) === 0) fail(Status.InvalidField, `${kind} ${qid}: PC = 0 but CAP.CQR = 1`);
    if (entry.psdt !== 0) fail(Status.InvalidField, 'PSDT must be PRP');
    if (base % BigInt(core.pageSize()) !== 0n || base === 0n)
      fail(Status.PrpOffsetInvalid, `${kind} base 0x${base.toString(16)} not page aligned`);
    const win = core.memory.windowAt(base);
    if (win && win.name === 'cmb') {
      const allowed = kind === 'SQ' ? core.cmb?.supportsSubmissionQueues : core.cmb?.supportsCompletionQueues;
      if (!allowed) fail(Status.InvalidField, `${kind} in CMB but CMBSZ.${kind}S = 0`);
      core.memory.localView(base, size * (kind === 'SQ' ? 64 : 16));
    }
    return { qid, size, base, inCmb: win?.name === 'cmb' };
  };

  core.admin.register(AdminOpcode.CreateIoCq, 'Create I/O Completion Queue', async (ctx): Promise<CommandResult> => {
    const { qid, size, base, inCmb } = checkGeometry(ctx, 'CQ');
    if (qid === 0 || qid > core.features.cqAllocated + 1 || core.queues.cqs.has(qid)) fail(Status.InvalidQueueIdentifier, `CQ id ${qid}`);
    const ien = (ctx.entry.cdw11 & 2) !== 0;
    const iv = ctx.entry.cdw11 >>> 16;
    if (!core.interrupts.validVector(iv)) fail(Status.InvalidInterruptVector, `CQ ${qid} vector ${iv}`);
    const cq = new CompletionQueue(qid, base, size, iv, ien, inCmb);
    core.queues.addCq(cq);
    await core.queues.cqCreated(cq);
    if (inCmb) core.stats.ioCqCreatedInCmb++;
    return {};
  });

  core.admin.register(AdminOpcode.CreateIoSq, 'Create I/O Submission Queue', (ctx): CommandResult => {
    const cqid = ctx.entry.cdw11 >>> 16;
    const { qid, size, base, inCmb } = checkGeometry(ctx, 'SQ');
    if (qid === 0 || qid > core.features.sqAllocated + 1 || core.queues.sqs.has(qid)) fail(Status.InvalidQueueIdentifier, `SQ id ${qid}`);
    if (cqid === 0 || !core.queues.cqs.has(cqid)) fail(Status.CompletionQueueInvalid, `SQ ${qid} targets CQ ${cqid}`);
    const prio = (ctx.entry.cdw11 >>> 1) & 3;
    core.queues.addSq(new SubmissionQueue(qid, base, size, cqid, prio, inCmb));
    core.stats.ioSqCreated++;
    if (inCmb) core.stats.ioSqCreatedInCmb++;
    return {};
  });

  core.admin.register(AdminOpcode.DeleteIoSq, 'Delete I/O Submission Queue', async (ctx): Promise<CommandResult> => {
    const qid = ctx.entry.cdw10 & 0xffff;
    const sq = core.queues.sqs.get(qid);
    if (qid === 0 || !sq || sq.deleted) fail(Status.InvalidQueueIdentifier, `delete SQ ${qid}`);
    await core.queues.deleteSq(qid);
    return {};
  });

  core.admin.register(AdminOpcode.DeleteIoCq, 'Delete I/O Completion Queue', (ctx): CommandResult => {
    const qid = ctx.entry.cdw10 & 0xffff;
    const cq = core.queues.cqs.get(qid);
    if (qid === 0 || !cq) fail(Status.InvalidQueueIdentifier, `delete CQ ${qid}`);
    if ((cq as CompletionQueue).sqids.size > 0)
      fail(Status.InvalidQueueDeletion, `CQ ${qid} still has SQs ${[...(cq as CompletionQueue).sqids]}`);
    core.queues.deleteCq(qid);
    return {};
  });
}
