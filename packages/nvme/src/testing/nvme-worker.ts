/**
 * The worker-thread side of {@link startNvmeWorkerHarness}: creates the controller and its vfio-user
 * server on the socket path it is given, reports `listening`, forwards the server's log, and on
 * `close` waits for the client to hang up, closes the server and the controller (flushing
 * namespaces), reports `closed` and lets the thread end. A failure is reported as one line.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { LogChannel, Logger } from '@p2pkit/base';
import { VfioUserServer } from '@p2pkit/vfio-user';
import { createNvme, type NvmeDevice } from '../endpoint.ts';
import { harnessNvmeOptions } from './harness-device.ts';
import { type NvmeWorkerCommand, type NvmeWorkerData, type NvmeWorkerReport, oneLine } from './nvme-worker-protocol.ts';

const port = parentPort;
if (!port) throw new Error('nvme-worker.ts runs in a worker thread started by startNvmeWorkerHarness');
const report = (m: NvmeWorkerReport) => port.postMessage(m);
const { directory, socketPath, device } = workerData as NvmeWorkerData;

const forward = (channel: LogChannel) => (message: string, detail?: Record<string, unknown>) => {
  try {
    report(detail ? { kind: 'log', channel, message, detail } : { kind: 'log', channel, message });
  } catch {
    report({ kind: 'log', channel, message }); // a detail that cannot be cloned (a function, …)
  }
};
const logger: Logger = { guest: forward('guest'), client: forward('client'), device: forward('device'), info: forward('info') };

let nvme: NvmeDevice | undefined;
let server: VfioUserServer | undefined;

async function close(): Promise<void> {
  await server?.sessionEnded(); // the harness hangs up first; the device is detached once it has
  server?.close();
  await nvme?.close();
}

port.on('message', (m: NvmeWorkerCommand) => {
  // From a message handler, not inside a native callback: the thread ends without aborting the process.
  if (m.kind === 'exit') process.exit(m.code);
  if (m.kind !== 'close') return;
  close()
    .then(
      () => report({ kind: 'closed' }),
      (e: unknown) => report({ kind: 'failed', message: oneLine(e) }),
    )
    .finally(() => port.close());
});

try {
  nvme = await createNvme(harnessNvmeOptions(directory, device), {
    logger: { deviceError: (e, where) => logger.device(`${where}: ${String(e)}`), guestError: logger.guest },
  });
  server = new VfioUserServer(nvme.endpoint, { logger });
  server.listen(socketPath);
  report({ kind: 'listening' });
} catch (e) {
  await nvme?.close().catch(() => {});
  report({ kind: 'failed', message: oneLine(e) });
  port.close();
}
