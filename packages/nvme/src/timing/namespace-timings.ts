/**
 * Applies namespaces' timing models to I/O commands: an interceptor in front of every other hook.
 * The command runs at once; its outcome is handed back (and its completion posted) when both the
 * command has finished and its modelled due time has passed.
 */
import type { Namespace } from '../namespace.ts';
import type { CommandContext, CommandHook, CommandOutcome } from '../registry.ts';
import { type NamespaceTiming, NamespaceTimingModel, type TimedCommand, timedOperation } from './model.ts';
import { CompletionScheduler } from './scheduler.ts';

/** Commands whose SLBA/NLB sit in CDW10–12 (Read, Write, Compare, Write Zeroes). */
const RANGE_OPCODES = new Set([0x01, 0x02, 0x05, 0x08]);

export class NamespaceTimings {
  private readonly models = new WeakMap<Namespace, { model: NamespaceTimingModel; outstanding: number } | null>();

  constructor(
    /** The timing profile a namespace was configured with, if any. */
    private readonly timingOf: (ns: Namespace) => NamespaceTiming | undefined,
    readonly scheduler = new CompletionScheduler(),
  ) {}

  /** The interceptor; commands to namespaces without a profile pass straight through. */
  readonly hook: CommandHook = async (ctx, next) => {
    const ns = ctx.namespace;
    const state = ctx.queue === 'io' && ns ? this.stateOf(ns) : null;
    if (!state || !ns) return next();
    const due = state.model.dueTime(this.describe(ctx, ns, state.outstanding), this.scheduler.clock.now());
    state.outstanding++;
    try {
      let outcome: CommandOutcome;
      try {
        outcome = await next();
      } finally {
        await this.scheduler.waitUntil(due);
      }
      return outcome;
    } finally {
      state.outstanding--;
    }
  };

  private stateOf(ns: Namespace): { model: NamespaceTimingModel; outstanding: number } | null {
    let state = this.models.get(ns);
    if (state === undefined) {
      const t = this.timingOf(ns);
      state = t ? { model: new NamespaceTimingModel(t), outstanding: 0 } : null;
      this.models.set(ns, state);
    }
    return state;
  }

  private describe(ctx: CommandContext, ns: Namespace, outstanding: number): TimedCommand {
    const { entry } = ctx;
    const ranged = RANGE_OPCODES.has(entry.opcode);
    const blocks = ranged ? (entry.cdw12 & 0xffff) + 1 : 0;
    const operation = timedOperation(entry.opcode);
    return {
      opcode: entry.opcode,
      operation,
      nsid: entry.nsid,
      sqid: entry.sqid,
      slba: ranged ? entry.qw10 : 0n,
      blocks,
      bytes: operation === 'writeZeroes' ? 0 : blocks * ns.lbaSize,
      outstanding,
    };
  }
}
