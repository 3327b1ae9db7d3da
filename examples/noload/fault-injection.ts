/**
 * Interceptors for fault injection and tracing: they sit in front of every command (built-in or
 * vendor) and either call `next()` or answer themselves. Each returns the function that removes it.
 */
import type { CommandResult, NvmeController } from '@p2pkit/nvme';

// #region fail-every-nth
/** Fails every `n`-th I/O command with `opcode` with `status`, as a flaky accelerator would. */
export function failEveryNth(controller: NvmeController, opcode: number, n: number, status: number): () => void {
  let seen = 0;
  return controller.intercept((ctx, next) => {
    if (ctx.queue !== 'io' || ctx.entry.opcode !== opcode || ++seen % n !== 0) return next();
    return { status }; // answered here: the handler never runs
  });
}
// #endregion fail-every-nth

// #region delay
/** Holds every I/O command `ms` milliseconds before it runs (a slow medium; other queues go on). */
export function delayIo(controller: NvmeController, ms: number): () => void {
  return controller.intercept(async (ctx, next) => {
    if (ctx.queue === 'io') await new Promise((resolve) => setTimeout(resolve, ms));
    return next();
  });
}
// #endregion delay

// #region trace
/** One traced command. */
export interface TracedCommand {
  queue: 'admin' | 'io';
  opcode: number;
  nsid: number;
  status: number;
  ms: number;
}

/** Appends every command and its outcome to `into` (Deferred commands, such as AERs, are skipped). */
export function traceCommands(controller: NvmeController, into: TracedCommand[]): () => void {
  return controller.intercept(async (ctx, next) => {
    const start = performance.now();
    const outcome = await next();
    if (typeof outcome === 'object') {
      const { status = 0 } = outcome as CommandResult;
      into.push({ queue: ctx.queue, opcode: ctx.entry.opcode, nsid: ctx.entry.nsid, status, ms: performance.now() - start });
    }
    return outcome;
  });
}
// #endregion trace
