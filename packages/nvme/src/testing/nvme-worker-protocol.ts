/** What {@link startNvmeWorkerHarness} and its thread (nvme-worker.ts) tell each other. */
import type { LogChannel } from '@p2pkit/base';
import type { NvmeHarnessDeviceOptions } from './harness-device.ts';

/** What the thread is started with (structured-cloned: plain data only). */
export interface NvmeWorkerData {
  directory: string;
  socketPath: string;
  device: NvmeHarnessDeviceOptions;
}

/** Messages from the thread to the harness; the harness sends `{ kind: 'close' }` once. */
export type NvmeWorkerReport =
  | { kind: 'listening' }
  | { kind: 'closed' }
  | { kind: 'failed'; message: string }
  | { kind: 'log'; channel: LogChannel; message: string; detail?: Record<string, unknown> };

/** The first line of an error's message: what a failure in the thread is reported as. */
export const oneLine = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? '';
