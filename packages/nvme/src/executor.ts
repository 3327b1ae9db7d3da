import { DmaError } from '@p2pkit/base';
import type { SubmissionEntry } from './command.ts';
import { type CommandContextDeps, createCommandContext } from './command-context.ts';
import { CommandError } from './command-error.ts';
import type { DataTransfer } from './data-transfer.ts';
import type { ErrorLog } from './error-log.ts';
import type { NamespaceSet } from './namespace-set.ts';
import type { QueueEngine } from './queue-engine.ts';
import type { SubmissionQueue } from './queues.ts';
import {
  type CommandContext,
  type CommandHook,
  type CommandOutcome,
  type CommandRegistry,
  type CommandResult,
  Deferred,
} from './registry.ts';
import type { NvmeStats } from './stats.ts';
import { Status, statusName, withRetryPolicy } from './status.ts';

/** A completion whose error log entry names the LBA that failed. */
interface FailedResult extends CommandResult {
  lba?: bigint;
}

export interface ExecutorDeps extends CommandContextDeps {
  admin: CommandRegistry;
  io: CommandRegistry;
  queues: QueueEngine;
  transfer: DataTransfer;
  namespaces: NamespaceSet;
  errorLog: ErrorLog;
  stats: NvmeStats;
  guestError(message: string, detail?: Record<string, unknown>): void;
  deviceError(message: string, detail?: Record<string, unknown>): void;
}

/**
 * Runs one command: hook chain → registry handler → completion. Every failure becomes a status;
 * nothing thrown by a handler crosses the queue boundary.
 */
export class CommandExecutor {
  private readonly hooks: CommandHook[] = [];

  constructor(private readonly d: ExecutorDeps) {}

  /** Adds an interceptor (outermost first). Returns a function that removes it. */
  addHook(hook: CommandHook): () => void {
    this.hooks.push(hook);
    return () => {
      const i = this.hooks.indexOf(hook);
      if (i >= 0) this.hooks.splice(i, 1);
    };
  }

  /**
   * Runs `entry` to completion. Returns undefined when the command completed synchronously (no
   * hooks, and the handler returned a result rather than a promise: Read/Write over mapped memory),
   * else a promise that resolves once it has. Never throws or rejects.
   */
  execute(sq: SubmissionQueue, entry: SubmissionEntry): Promise<void> | undefined {
    const epoch = this.d.queues.epoch;
    const admin = sq.id === 0;
    const counts = admin ? this.d.stats.adminCommands : this.d.stats.ioCommands;
    counts[entry.opcode] = (counts[entry.opcode] ?? 0) + 1;
    this.d.stats.commandsBySq[sq.id] = (this.d.stats.commandsBySq[sq.id] ?? 0) + 1;
    let done = false;
    const ctx = createCommandContext(this.d, entry, admin ? 'admin' : 'io', (result) => {
      if (done) return;
      done = true;
      this.finish(sq, entry, result, epoch);
    });
    let outcome: CommandOutcome | Promise<CommandOutcome>;
    try {
      outcome = this.hooks.length > 0 ? this.chain(ctx, 0) : this.dispatch(ctx);
    } catch (err) {
      outcome = this.mapError(err, entry);
    }
    if (outcome instanceof Promise) {
      return outcome.then(
        (o) => this.conclude(ctx, o),
        (err: unknown) => this.conclude(ctx, this.mapError(err, entry)),
      );
    }
    this.conclude(ctx, outcome);
    return undefined;
  }

  private conclude(ctx: CommandContext, outcome: CommandOutcome): void {
    try {
      if (outcome !== Deferred) ctx.complete(outcome);
    } catch (err) {
      // Callers do not await I/O commands: a throw here would be an unhandled rejection (process exit).
      this.d.deviceError(`posting the completion failed: ${(err as Error)?.message ?? String(err)}`, {
        sqid: ctx.entry.sqid,
        cid: ctx.entry.cid,
      });
    }
  }

  private async chain(ctx: CommandContext, i: number): Promise<CommandOutcome> {
    const hook = this.hooks[i];
    if (hook) return hook(ctx, () => this.chain(ctx, i + 1));
    return this.dispatch(ctx);
  }

  /** The handler's outcome (or its promise); throws CommandError for a fused or unknown opcode. */
  private dispatch(ctx: CommandContext): CommandOutcome | Promise<CommandOutcome> {
    const { entry } = ctx;
    // Fused operations are not supported (FUSES = 0): §4.2 CDW0.FUSE.
    if (entry.fuse !== 0) throw new CommandError(Status.InvalidField, 'fused command (FUSES = 0)');
    const reg = (ctx.queue === 'admin' ? this.d.admin : this.d.io).get(entry.opcode);
    if (!reg) throw new CommandError(Status.InvalidOpcode, `unsupported ${ctx.queue} opcode 0x${entry.opcode.toString(16)}`);
    return reg.handler(ctx);
  }

  private mapError(err: unknown, entry: SubmissionEntry): CommandResult {
    const where = { sqid: entry.sqid, cid: entry.cid, opcode: entry.opcode };
    if (err instanceof CommandError) {
      if (err.guestMistake) this.d.guestError(err.message, { ...where, status: statusName(err.status), ...err.detail });
      // A media error names its LBA in the error log entry (NVM command set §4.1.4.1).
      const lba = err.detail?.lba;
      return typeof lba === 'bigint' ? ({ status: err.status, lba } as FailedResult) : { status: err.status };
    }
    // Any refused transfer — unmapped address, Bus Master Enable clear, function reset or client gone
    // mid-I/O — is Data Transfer Error (§4.2.3.1, SC 04h), a guest-side condition, not a device bug.
    if (err instanceof DmaError) {
      this.d.stats.dataTransferErrors++;
      this.d.guestError(`data transfer failed: ${err.message}`, { ...where, address: err.address, length: err.length, errno: err.errno });
      return { status: Status.DataTransferError };
    }
    this.d.deviceError(`command handler failed: ${(err as Error)?.message ?? String(err)}`, { ...where, error: err });
    return { status: Status.InternalError };
  }

  private finish(sq: SubmissionQueue, entry: SubmissionEntry, result: CommandResult, epoch: number): void {
    const status = withRetryPolicy(result.status ?? Status.Success);
    if (status !== Status.Success) {
      this.d.stats.commandErrors++;
      this.d.errorLog.record({ sqid: sq.id, cid: entry.cid, status, nsid: entry.nsid, lba: (result as FailedResult).lba });
    }
    this.d.queues.post(sq, { dw0: result.dw0 ?? 0, dw1: result.dw1 ?? 0, sqid: sq.id, cid: entry.cid, status }, epoch);
  }
}
