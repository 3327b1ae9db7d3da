/**
 * The NVMe controller as a PCI endpoint: class 010802, BAR0 registers + doorbells with the MSI-X
 * table/PBA behind them (trapped), BAR2 the CMB (64-bit prefetchable, memfd: the guest CPU and peers
 * reach it without the server), BAR4 the PMR (a file mapped shared, so it persists), INTx fallback,
 * PCIe FLR.
 */
import { SharedMemory } from '@p2pkit/native';
import {
  type BarDeclaration,
  type BarIndex,
  type Capability,
  type DeviceInstance,
  defineEndpoint,
  type Endpoint,
  type EndpointHandle,
  type EndpointInstanceOptions,
  type ExtendedCapability,
  memfdBarMemory,
  memory,
  mmio,
  msix,
  pciExpress,
  powerManagement,
  serialNumber,
} from '@p2pkit/pci';
import { NVME_CLASS_CODE, NvmeController, registerBytesFor } from './controller.ts';
import { NativeHolePuncher } from './native-hole-puncher.ts';
import type { NvmeControllerOptions } from './options.ts';

/** Options of {@link createNvme}: the controller's, plus PCI identity, CMB, PMR and INTx. */
export interface NvmeOptions extends Omit<NvmeControllerOptions, 'cmb' | 'pmr'> {
  /** Instance name in logs and memfd names. */
  name?: string;
  /** PCI identity; default vendor 0x1b36 device 0x00f4 (class 010802 is what the nvme driver binds). */
  ids?: { vendor?: number; device?: number; subsystemVendor?: number; subsystem?: number; revision?: number };
  /** Controller Memory Buffer in BAR2: size a power of two ≥ 2 MiB. */
  cmb?: { size: number; submissionQueues?: boolean; completionQueues?: boolean; lists?: boolean };
  /** Persistent Memory Region in BAR4, backed by `path` (created/extended to `size`, a power of two). */
  pmr?: { path: string; size: number };
  /** INTx pin for drivers without MSI-X; default 1 (INTA#), 0 for none. */
  interruptPin?: 0 | 1;
  /**
   * Extra BARs beside the controller's own: BAR0–1 (registers, 64-bit), BAR2–3 (CMB) and BAR4–5
   * (PMR) when configured are taken; any other index is free (a 64-bit BAR takes the next one too).
   */
  bars?: Partial<Record<BarIndex, BarDeclaration>>;
  /** Extra standard capabilities (e.g. pci's `vendorSpecific()`), linked after PM, PCIe and MSI-X. */
  capabilities?: readonly Capability[];
  /** Extra extended capabilities, linked after the Device Serial Number. */
  extendedCapabilities?: readonly ExtendedCapability[];
}

/** An NVMe device instance: serve it (`serve()`, a testbed `Rig`); `controller` is its NVMe state. */
export interface NvmeDevice extends DeviceInstance {
  readonly endpoint: Endpoint;
  readonly controller: NvmeController;
  /** Function-level resets seen (DEVICE_RESET from the client, or PCIe FLR from the guest). */
  readonly functionResets: number;
  /** Flushes namespaces and the PMR, then releases memory and files. */
  close(): Promise<void>;
}

const pow2 = (n: number) => 2 ** Math.ceil(Math.log2(n));
const PAGE = 4096;
const roundUp = (n: number, to: number) => Math.ceil(n / to) * to;

/**
 * Creates an NVMe device: the controller and its PCI function (memory BARs are memfds unless
 * `instance.memory` says otherwise). Serve it with `serve()` or a testbed `Rig`; `close()` it after.
 */
export async function createNvme(options: NvmeOptions, instance: EndpointInstanceOptions = {}): Promise<NvmeDevice> {
  const maxIoQueues = options.maxIoQueues ?? 64;
  const vectors = options.interruptVectors ?? maxIoQueues + 1;
  const registerBytes = registerBytesFor(maxIoQueues, options.doorbellStride ?? 4);
  const table = registerBytes;
  const pba = table + roundUp(vectors * 16, PAGE);
  const bar0Size = pow2(pba + roundUp(Math.ceil(vectors / 64) * 8, PAGE));
  if (options.cmb && (options.cmb.size < 2 << 20 || pow2(options.cmb.size) !== options.cmb.size)) {
    throw new RangeError(
      `nvme: CMB size must be a power of two ≥ 2 MiB (Linux maps p2p memory in 2 MiB sections), got ${options.cmb.size}`,
    );
  }
  if (options.pmr && (options.pmr.size < PAGE || pow2(options.pmr.size) !== options.pmr.size)) {
    throw new RangeError(`nvme: PMR size must be a power of two ≥ 4 KiB, got ${options.pmr.size}`);
  }

  const extraBars = checkExtraBars(options);
  let controller: NvmeController | undefined;
  let functionResets = 0;
  let pmrFile: SharedMemory | undefined;
  const ctrl = () => controller as NvmeController;
  const attachHost = (dev: EndpointHandle) =>
    ctrl().attach({
      dma: dev.dma,
      raiseInterrupt: (v) => void dev.raise(v),
      clearInterrupt: () => dev.lowerIntx(),
      guestError: (m, d) => dev.guestError(`nvme: ${m}`, d),
      deviceError: (m, d) => dev.deviceError(`nvme: ${m}`, d),
    });

  const definition = defineEndpoint({
    name: options.name ?? `nvme-${options.serial}`,
    ids: {
      vendor: options.ids?.vendor ?? 0x1b36,
      device: options.ids?.device ?? 0x00f4,
      subsystemVendor: options.ids?.subsystemVendor ?? 0x1b36,
      subsystem: options.ids?.subsystem ?? 0x0001,
      class: NVME_CLASS_CODE,
      revision: options.ids?.revision ?? 1,
    },
    bars: {
      0: mmio({
        size: bar0Size,
        bits: 64,
        read: (off, size) => (off < registerBytes ? ctrl().mmioRead(off, size) : 0),
        write: (off, size, value) => {
          if (off < registerBytes) ctrl().mmioWrite(off, size, value);
        },
      }),
      ...(options.cmb ? { 2: memory({ size: options.cmb.size, bits: 64, prefetchable: true, name: 'cmb' }) } : {}),
      ...(options.pmr
        ? {
            4: memory({
              size: options.pmr.size,
              bits: 64,
              prefetchable: true,
              name: 'pmr',
              provider: {
                create: (_name, size) => {
                  pmrFile = SharedMemory.openFile((options.pmr as { path: string }).path, size);
                  const m = pmrFile;
                  return { fd: m.fd.fd, bytes: m.bytes, close: () => m.close() };
                },
              },
            }),
          }
        : {}),
      ...extraBars,
    },
    capabilities: [
      powerManagement(),
      pciExpress.endpoint({ flr: true }),
      msix({ vectors, bar: 0, table, pba }),
      ...(options.capabilities ?? []),
    ],
    extendedCapabilities: [serialNumber(serialToDsn(options.serial)), ...(options.extendedCapabilities ?? [])],
    interruptPin: options.interruptPin ?? 1,
    attach: (dev) => attachHost(dev),
    detach: () => ctrl().detach(),
    reset: () => {
      functionResets++;
      controller?.reset();
    },
    onBarAddress: (_dev, bar, address) => controller?.setBarAddress(bar, address),
  });

  const endpoint = definition.create({ memory: memfdBarMemory, ...instance });
  try {
    const { cmb: _cmb, pmr: _pmr, bars: _bars, capabilities: _caps, extendedCapabilities: _ext, ...common } = options;
    controller = await NvmeController.create({
      holePuncher: new NativeHolePuncher(),
      ...common,
      ...(options.cmb ? { cmb: { ...options.cmb, memory: endpoint.handle.memory(2), bar: 2, barOffset: 0 } } : {}),
      ...(options.pmr && pmrFile ? { pmr: { memory: endpoint.handle.memory(4), bar: 4, flush: () => pmrFile?.sync() } } : {}),
    });
  } catch (e) {
    endpoint.close();
    throw e;
  }
  for (const bar of [2, 4] as BarIndex[]) {
    const address = endpoint.barAddress(bar);
    if (address !== undefined) controller.setBarAddress(bar, address);
  }
  if (endpoint.attached) attachHost(endpoint.handle);
  const close = async () => {
    await controller?.close();
    endpoint.close();
  };
  return {
    endpoint,
    controller,
    get functionResets() {
      return functionResets;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** The extra BARs, refused where the controller's own BARs sit. */
function checkExtraBars(options: NvmeOptions): Partial<Record<BarIndex, BarDeclaration>> {
  const own = new Set([0, 1, ...(options.cmb ? [2, 3] : []), ...(options.pmr ? [4, 5] : [])]);
  for (const key of Object.keys(options.bars ?? {})) {
    if (own.has(Number(key))) throw new RangeError(`nvme: BAR${key} belongs to the controller (registers BAR0–1, CMB BAR2–3, PMR BAR4–5)`);
  }
  return options.bars ?? {};
}

/** A stable Device Serial Number derived from the NVMe serial (FNV-1a, 64-bit). */
function serialToDsn(serial: string): bigint {
  let h = 0xcbf29ce484222325n;
  for (const c of Buffer.from(serial)) h = ((h ^ BigInt(c)) * 0x100000001b3n) & 0xffffffffffffffffn;
  return h;
}
