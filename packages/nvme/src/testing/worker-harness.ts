/**
 * An NVMe controller served from its own worker thread (node:worker_threads), driven from the
 * calling thread:
 *
 *   worker thread: createNvme → VfioUserServer ⇄ UNIX socket ⇄ calling thread: VfioUserClient + driver
 *
 * The host side — client, guest memory, interrupt eventfds, {@link NvmeTestDriver} — is the same as
 * {@link startNvmeHarness}'s and stays in the calling thread; only the device moves, so N harnesses
 * spread N controllers over N event loops (what a device served by its own process or thread costs
 * and scales to, with no VM). Device options cross to the thread as plain data.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { recordingLogger } from '@p2pkit/base';
import { VfioUserClient } from '@p2pkit/vfio-user';
import type { NvmeHarness, NvmeHarnessOptions } from './harness.ts';
import { deviceErrorsIn, guestErrorsIn } from './harness-device.ts';
import { attachHost, type HostSide } from './host-side.ts';
import { type NvmeWorkerCommand, type NvmeWorkerData, type NvmeWorkerReport, oneLine } from './nvme-worker-protocol.ts';

/**
 * What {@link startNvmeWorkerHarness} serves: the options of {@link startNvmeHarness} that are plain
 * data (they are structured-cloned to the thread, so no functions, hole punchers or capability
 * objects), over a UNIX socket.
 */
export type NvmeWorkerHarnessOptions = Omit<
  NvmeHarnessOptions,
  'device' | 'transport' | 'schedule' | 'holePuncher' | 'bars' | 'capabilities' | 'extendedCapabilities' | 'identifyVendorSpecific'
> & {
  /** Identify Controller bytes 3072–4095 (at most 1024 bytes). */
  identifyVendorSpecific?: Uint8Array;
};

/**
 * A controller served from a worker thread with a connected host in the calling thread. The
 * controller itself is out of reach (it lives in the thread); its log, guest errors and device
 * errors arrive as messages, so they lag the completions the driver sees by a turn of the event
 * loop. Close it when done.
 */
export interface NvmeWorkerHarness
  extends Pick<
    NvmeHarness,
    | 'client'
    | 'log'
    | 'memory'
    | 'interrupts'
    | 'driver'
    | 'directory'
    | 'guestErrors'
    | 'deviceErrors'
    | 'configRead32'
    | 'configWrite32'
    | 'enableBusMaster'
    | 'mapBar'
  > {
  /** The server's socket in `directory`. */
  readonly socketPath: string;
  /**
   * The thread serving the controller (its `threadId` is -1 once it has ended). End it with
   * {@link NvmeWorkerHarness.close}: `terminate()` can abort the whole process when it lands while
   * a native poll callback runs in the thread.
   */
  readonly worker: Worker;
  /**
   * Disconnects, has the thread close the server and the controller (flushing namespaces) and waits
   * for it to end; frees memory; removes `directory` if the harness created it. Rejects with the
   * thread's error if it failed while serving or closing, or if it ended before being closed (the
   * connection is then closed at once, so requests waiting on it reject instead of timing out).
   */
  close(): Promise<void>;
}

/** How long a closed thread may take to end by itself before it is terminated (and that is an error). */
const EXIT_GRACE_MS = 5000;

/**
 * Starts a thread that serves an NVMe controller on a UNIX socket, then connects to it from the
 * calling thread with guest memory, interrupts and a driver (as {@link startNvmeHarness} does).
 * Rejects with the thread's error, on one line, if it cannot create the controller or listen.
 */
export async function startNvmeWorkerHarness(options: NvmeWorkerHarnessOptions = {}): Promise<NvmeWorkerHarness> {
  const { directory: directoryOption, dma = 'fd', interruptMode = 'msix', msixVectors = 16, memory, timeoutMs, ...device } = options;
  const directory = directoryOption ?? (await mkdtemp(join(tmpdir(), 'p2pkit-nvme-')));
  const socketPath = join(directory, 'vfio-user.sock');
  const log = recordingLogger();
  let failure: string | undefined;
  let listening: () => void = () => {};
  let closedReported = false;
  let worker: Worker;
  try {
    worker = startThread({ directory, socketPath, device });
  } catch (e) {
    if (!directoryOption) await rm(directory, { recursive: true, force: true });
    throw new Error(`nvme worker: options must be plain data (${oneLine(e)})`);
  }
  const thread = worker;
  const ended = new Promise<number>((resolve) => thread.once('exit', resolve));
  thread.on('error', (e) => {
    failure ??= oneLine(e);
  });
  thread.on('message', (m: NvmeWorkerReport) => {
    if (m.kind === 'log') log[m.channel](m.message, m.detail);
    else if (m.kind === 'listening') listening();
    else if (m.kind === 'failed') failure ??= m.message;
    else closedReported = true;
  });

  let client: VfioUserClient | undefined;
  let host: HostSide | undefined;
  let closed: Promise<void> | undefined;
  let closing = false;
  // A thread that ends while serving (it threw, or was terminated) takes no native resource with it:
  // its socket stays open in the process, so the client would wait for replies that never come.
  // Close the connection from this side instead (waiting requests reject) and report it on close().
  void ended.then((code) => {
    if (closing || closedReported || !client) return; // before serving, start-up reports it
    failure ??= `the thread ended while serving (exit code ${code})`;
    client.close();
  });
  const close = async () => {
    closing = true;
    if (client) {
      client.close();
      await client.whenClosed();
    }
    if (thread.threadId !== -1) {
      thread.postMessage({ kind: 'close' } satisfies NvmeWorkerCommand);
      const timer = setTimeout(() => {
        failure ??= `the thread did not end within ${EXIT_GRACE_MS} ms of closing`;
        void thread.terminate();
      }, EXIT_GRACE_MS);
      await ended;
      clearTimeout(timer);
    }
    if (!closedReported) failure ??= 'the thread ended before closing the controller';
    host?.release();
    if (!directoryOption) await rm(directory, { recursive: true, force: true });
    if (failure !== undefined) throw new Error(`nvme worker: ${failure}`);
  };
  try {
    await Promise.race([
      new Promise<void>((resolve) => {
        listening = resolve;
      }),
      ended.then((code) => {
        throw new Error(`nvme worker: ${failure ?? `the thread exited with code ${code} before listening`}`);
      }),
    ]);
    client = await VfioUserClient.connect(socketPath);
    host = await attachHost(client, { dma, interruptMode, msixVectors, memory, timeoutMs });
  } catch (e) {
    await close().catch(() => {}); // the start-up error is the one to report
    throw e;
  }
  const connected = client;
  const attached = host;
  return {
    client: connected,
    log,
    memory: attached.memory,
    interrupts: attached.interrupts,
    driver: attached.driver,
    directory,
    socketPath,
    worker: thread,
    get guestErrors() {
      return guestErrorsIn(log);
    },
    get deviceErrors() {
      return deviceErrorsIn(log);
    },
    configRead32: attached.configRead32,
    configWrite32: attached.configWrite32,
    enableBusMaster: attached.enableBusMaster,
    mapBar: attached.mapBar,
    close() {
      closed ??= close();
      return closed;
    },
  };
}

/**
 * Starts nvme-worker next to this module. From the TypeScript sources (this repository, under tsx
 * or vitest) the thread loads them through tsx's loader with the `source` export condition, as the
 * calling thread does; from the built package it loads the JavaScript directly.
 */
function startThread(workerData: NvmeWorkerData): Worker {
  const fromSource = import.meta.url.endsWith('.ts');
  const entry = fromSource ? new URL('./nvme-worker.ts', import.meta.url) : new URL('./nvme-worker.js', import.meta.url);
  if (!fromSource) return new Worker(entry, { workerData });
  const tsx = pathToFileURL(
    createRequire(import.meta.url)
      .resolve('tsx/esm/api')
      .replace(/\.cjs$/, '.mjs'),
  ).href;
  // A failed import is an unhandled rejection in the thread: its 'error' event, with the message.
  const code = `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(entry.href)}); });`;
  return new Worker(code, { eval: true, workerData, execArgv: ['--conditions=source'] });
}
