/** What {@link startNvmeWorkerHarness} and its thread (nvme-worker.ts) tell each other. */
import type { LogChannel } from '@p2pkit/base';
import type { NvmeHarnessDeviceOptions } from './harness-device.ts';

/** What the thread is started with (structured-cloned: plain data only). */
export interface NvmeWorkerData {
  directory: string;
  socketPath: string;
  device: NvmeHarnessDeviceOptions;
}

/**
 * Messages from the harness to the thread: `close` once, to end it cleanly. `exit` ends the thread
 * at once with `code`, closing nothing, as a thread that dies while serving does; tests of a dead
 * thread use it rather than `Worker.terminate()`, which aborts the whole process when it lands
 * while a native poll callback runs in the thread (koffi turns the termination into a fatal error).
 */
export type NvmeWorkerCommand = { kind: 'close' } | { kind: 'exit'; code: number };

/** Messages from the thread to the harness. */
export type NvmeWorkerReport =
  | { kind: 'listening' }
  | { kind: 'closed' }
  | { kind: 'failed'; message: string }
  | { kind: 'log'; channel: LogChannel; message: string; detail?: Record<string, unknown> };

/** The first line of an error's message: what a failure in the thread is reported as. */
export const oneLine = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? '';
