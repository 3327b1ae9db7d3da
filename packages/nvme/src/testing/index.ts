/**
 * @p2pkit/nvme/testing — test an NVMe controller (and your extensions to it) without a VM.
 *
 * {@link startNvmeHarness} serves a controller over vfio-user to the TypeScript client, with a memfd
 * as guest RAM ({@link GuestMemory}) and eventfds as interrupts ({@link InterruptEventFds});
 * {@link NvmeTestDriver} is the host's NVMe driver: it enables the controller, creates queues,
 * submits commands with PRP or SGL data pointers and reaps completions.
 * {@link startNvmeWorkerHarness} is the same with the controller on a worker thread of its own.
 * Nothing here depends on a test runner: failures are thrown Errors.
 *
 * @example
 * ```ts
 * import { Status } from '@p2pkit/nvme';
 * import { startNvmeHarness } from '@p2pkit/nvme/testing';
 *
 * const harness = await startNvmeHarness({ namespaces: [{ sizeBytes: 8 << 20 }] });
 * try {
 *   harness.controller.registerIoCommand(0xc0, (ctx) => ({ dw0: ctx.entry.cdw10 + 1 }));
 *   await harness.driver.bringUp(); // enable, Number of Queues, I/O queue pair 1
 *   const done = await harness.driver.submit(1, { opcode: 0xc0, nsid: 1, cdw10: 41 });
 *   if (done.status !== Status.Success || done.dw0 !== 42) throw new Error('vendor command failed');
 * } finally {
 *   await harness.close();
 * }
 * ```
 *
 * @module
 */
export type { SubmissionFields } from '../command.ts';
export type { Completion } from '../queues.ts';
export { SglType } from '../sgl.ts';
export { type PrpPointer, PSDT_SGL, prpsFor, sglBitBucket, sglDataBlock, sglDescriptor, sglFor } from './data-pointers.ts';
export { type CreateQueuePairOptions, NvmeTestDriver, type ReadWriteRequest } from './driver.ts';
export { GuestMemory, type GuestMemoryOptions } from './guest-memory.ts';
export { type NvmeHarness, type NvmeHarnessOptions, startNvmeHarness } from './harness.ts';
export type { GuestErrorEntry, NvmeHarnessDeviceOptions } from './harness-device.ts';
export { InterruptEventFds } from './interrupt-eventfds.ts';
export { type CompletionEntry, type NvmeCommand, type QueueMemory, QueuePair } from './queue-pair.ts';
export { ShadowDoorbellBuffers } from './shadow-doorbell-buffers.ts';
export { waitUntil } from './wait.ts';
export { type NvmeWorkerHarness, type NvmeWorkerHarnessOptions, startNvmeWorkerHarness } from './worker-harness.ts';
