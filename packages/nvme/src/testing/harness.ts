/**
 * An NVMe controller served through the real stack, with no VM:
 *
 *   createNvme → VfioUserServer ⇄ UNIX socket (or an in-memory pair) ⇄ VfioUserClient
 *
 * The client does what QEMU + Linux do: guest RAM is a memfd DMA_MAPped with its fd (the controller
 * reads SQEs and writes CQEs and data in place), MSI-X vectors are eventfds bound with SET_IRQS, Bus
 * Master Enable is a config-space write, and every register or doorbell access is a REGION_READ or
 * REGION_WRITE on BAR0. The {@link NvmeTestDriver} plays the guest's NVMe driver.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RecordingLogger, recordingLogger } from '@p2pkit/base';
import { MemoryTransport, VfioUserClient, VfioUserServer } from '@p2pkit/vfio-user';
import type { NvmeController } from '../controller.ts';
import { createNvme, type NvmeDevice } from '../endpoint.ts';
import type { NvmeTestDriver } from './driver.ts';
import type { GuestMemory, GuestMemoryOptions } from './guest-memory.ts';
import {
  deviceErrorsIn,
  type GuestErrorEntry,
  guestErrorsIn,
  harnessNvmeOptions,
  type NvmeHarnessDeviceOptions,
} from './harness-device.ts';
import { attachHost, type HostSide } from './host-side.ts';
import type { InterruptEventFds } from './interrupt-eventfds.ts';

/** What {@link startNvmeHarness} serves and how the host side connects. Every field is optional. */
export interface NvmeHarnessOptions extends NvmeHarnessDeviceOptions {
  /** Where images, the PMR file and the socket go; default a fresh temp directory, removed by `close()`. */
  directory?: string;
  /** 'socket' (default): a real UNIX socket in `directory`, as QEMU connects. 'memory': an in-process pair. */
  transport?: 'socket' | 'memory';
  /**
   * 'fd' (default): guest memory DMA_MAPped with its memfd (zero copy, like QEMU with
   * memory-backend-memfd). 'messages': mapped without an fd, so every DMA is a DMA_READ/DMA_WRITE
   * message the client answers from the same bytes.
   */
  dma?: 'fd' | 'messages';
  /** 'msix' (default, like Linux): one eventfd per vector. 'intx': one eventfd on the INTx pin. */
  interruptMode?: 'msix' | 'intx';
  /** How many MSI-X vectors get an eventfd; default 16. */
  msixVectors?: number;
  /** Guest memory placement and size (default 32 MiB at 1 MiB). */
  memory?: GuestMemoryOptions;
  /** How long the driver waits for the controller; default 3000 ms. */
  timeoutMs?: number;
  /**
   * Serve this device instead of creating one (e.g. a controller of `createNvmeSubsystem`); the
   * device options above are then unused. `close()` closes it.
   */
  device?: NvmeDevice;
}

/** A served NVMe controller with a connected host. Close it when done. */
export interface NvmeHarness {
  /** The served NVMe function: PCI endpoint + controller. */
  readonly nvme: NvmeDevice;
  /** The controller: extension API (registerIoCommand, intercept, …), stats, simulation knobs. */
  readonly controller: NvmeController;
  /** The vfio-user server serving `nvme` (its `session` exposes DMA counters). */
  readonly server: VfioUserServer;
  /** The connected vfio-user client (DMA_MAP, SET_IRQS, region access, `dmaServed`); what the driver talks through. */
  readonly client: VfioUserClient;
  /** The server's socket, with transport 'socket'. */
  readonly socketPath: string | undefined;
  /** Everything the server logged (channels guest, device, client, info). */
  readonly log: RecordingLogger;
  /** Guest RAM, DMA_MAPped to the server. */
  readonly memory: GuestMemory;
  /** Interrupt eventfds bound with SET_IRQS (MSI-X vectors, or INTx as vector 0). */
  readonly interrupts: InterruptEventFds;
  /** The host driver; the controller is not enabled yet (call `driver.bringUp()` or `driver.enable()`). */
  readonly driver: NvmeTestDriver;
  /** Where images, the PMR file and the socket live. */
  readonly directory: string;
  /** Guest (driver) errors the controller reported so far, e.g. a bad doorbell value. */
  readonly guestErrors: GuestErrorEntry[];
  /** Device bugs reported so far (a handler that threw, …): an empty list is what a test wants. */
  readonly deviceErrors: string[];
  /** 32-bit config-space read (REGION_READ on the CONFIG region). */
  configRead32(offset: number): Promise<number>;
  /** 32-bit config-space write. */
  configWrite32(offset: number, value: number): Promise<void>;
  /** Command = Memory Space Enable | Bus Master Enable (pci_set_master); done at start, again after a reset. */
  enableBusMaster(): Promise<void>;
  /** The guest CPU's mapping of memory BAR `index` (region fd + mmap, as QEMU maps it). */
  mapBar(index: 2 | 4): Promise<Uint8Array>;
  /** Disconnects, closes the endpoint (flushing namespaces), frees memory; removes `directory` if the harness created it. */
  close(): Promise<void>;
}

/** Serves an NVMe endpoint (temp-dir namespaces) to a vfio-user client with guest memory, interrupts and a driver. */
export async function startNvmeHarness(options: NvmeHarnessOptions = {}): Promise<NvmeHarness> {
  const {
    directory: directoryOption,
    transport = 'socket',
    dma = 'fd',
    interruptMode = 'msix',
    msixVectors = 16,
    memory: memoryOptions,
    timeoutMs,
    device,
    ...deviceOptions
  } = options;
  const directory = directoryOption ?? (await mkdtemp(join(tmpdir(), 'p2pkit-nvme-')));
  const log = recordingLogger();
  const detachedDeviceErrors: string[] = [];
  let nvme: NvmeDevice | undefined;
  let server: VfioUserServer | undefined;
  let client: VfioUserClient | undefined;
  let host: HostSide | undefined;
  let closed: Promise<void> | undefined;
  const close = async () => {
    if (client) {
      client.close();
      await client.whenClosed();
    }
    await server?.sessionEnded(); // the device is detached once the session ends
    server?.close();
    await nvme?.close();
    host?.release();
    if (!directoryOption) await rm(directory, { recursive: true, force: true });
  };
  try {
    nvme =
      device ??
      (await createNvme(
        harnessNvmeOptions(directory, deviceOptions),
        // Used while no client is attached; the server's logger takes over once one is.
        {
          logger: { deviceError: (e, where) => detachedDeviceErrors.push(`${where}: ${String(e)}`), guestError: (m, d) => log.guest(m, d) },
        },
      ));
    server = new VfioUserServer(nvme.endpoint, { logger: log });
    const socketPath = transport === 'socket' ? join(directory, 'vfio-user.sock') : undefined;
    if (socketPath) {
      server.listen(socketPath);
      client = await VfioUserClient.connect(socketPath);
    } else {
      const [a, b] = MemoryTransport.pair();
      server.serve(b);
      client = new VfioUserClient(a);
      await client.negotiate();
    }
    host = await attachHost(client, { dma, interruptMode, msixVectors, memory: memoryOptions, timeoutMs });
    const harness: NvmeHarness = {
      nvme,
      controller: nvme.controller,
      server,
      client,
      socketPath,
      log,
      memory: host.memory,
      interrupts: host.interrupts,
      driver: host.driver,
      directory,
      get guestErrors() {
        return guestErrorsIn(log);
      },
      get deviceErrors() {
        return [...detachedDeviceErrors, ...deviceErrorsIn(log)];
      },
      configRead32: host.configRead32,
      configWrite32: host.configWrite32,
      enableBusMaster: host.enableBusMaster,
      mapBar: host.mapBar,
      close() {
        closed ??= close();
        return closed;
      },
    };
    return harness;
  } catch (e) {
    await close();
    throw e;
  }
}
