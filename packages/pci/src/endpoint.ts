/**
 * `defineEndpoint`: turns an {@link EndpointSpec} into instances implementing the vfio-user
 * {@link VfioUserDevice} contract (regions, IRQ info, config space, BARs, reset, attach/detach).
 */
import { type DeviceContext, formatLogDetail, hex, IrqIndex } from '@p2pkit/base';
import { type IrqInfo, IrqInfoFlags, RegionFlags, RegionIndex, type RegionInfo, type VfioUserDevice } from '@p2pkit/vfio-user';
import { type BarMemoryProvider, heapBarMemory } from './bar-memory.ts';
import { type AccessReporter, BarRegion } from './bar-region.ts';
import type { AerState } from './capabilities/aer.ts';
import type { MsiState } from './capabilities/msi.ts';
import type { MsixState } from './capabilities/msix.ts';
import type { PciExpressState } from './capabilities/pci-express.ts';
import type { PowerManagementState } from './capabilities/power-management.ts';
import { BAR_COUNT, type BarAddressListener, type BarIndex, BarRegisters } from './config/bars.ts';
import { installCapabilities, installExtendedCapabilities } from './config/capability-list.ts';
import { CommandStatus, headerRegisters } from './config/header.ts';
import { PciCommand, PciHeader } from './config/registers.ts';
import { ConfigSpace } from './config/space.ts';
import { configSpaceSizeOf, declaredBars, type EndpointSpec, isMsi, isMsix, isPciExpress, validateSpec } from './definition.ts';
import { GatedDmaSpace } from './dma.ts';
import type { BarHandle, EndpointHandle } from './handle.ts';
import { InterruptController } from './interrupts.ts';

/** Where an instance reports problems while no client context is attached, and device bugs always. */
export interface EndpointLogger {
  /** A device handler threw; the access was answered with all-ones / dropped. */
  deviceError(error: unknown, where: string): void;
  /** A guest mistake while detached (attached ones go to `DeviceContext.guestError`). */
  guestError(message: string, detail?: Record<string, unknown>): void;
}

export interface EndpointInstanceOptions {
  /** Backing for memory BARs. Default {@link heapBarMemory} (no fd, BARs trapped). */
  memory?: BarMemoryProvider;
  logger?: EndpointLogger;
}

/** What `defineEndpoint` returns: the validated spec and a factory of instances. */
export interface EndpointDefinition {
  readonly spec: Readonly<EndpointSpec>;
  create(options?: EndpointInstanceOptions): Endpoint;
}

const consoleLogger: EndpointLogger = {
  deviceError: (error, where) => console.error(`[p2pkit/pci] device error in ${where}:`, error),
  guestError: (message, detail) => console.warn(`[p2pkit/pci] guest error: ${message}`, detail ?? ''),
};

/** Declares an endpoint; throws at once if the declaration breaks a PCI rule. */
export function defineEndpoint(spec: EndpointSpec): EndpointDefinition {
  validateSpec(spec);
  return { spec, create: (options) => new Endpoint(spec, options) };
}

/** One endpoint instance: a {@link VfioUserDevice} plus device-side accessors. */
export class Endpoint implements VfioUserDevice, Disposable {
  readonly name: string;
  readonly config: ConfigSpace;
  readonly commandStatus: CommandStatus;
  readonly bars: BarRegisters;
  readonly interrupts: InterruptController;
  /** The handle passed to hooks and BAR handlers. */
  readonly handle: EndpointHandle;
  readonly msi: MsiState | undefined;
  readonly msix: MsixState | undefined;
  readonly pciExpress: PciExpressState | undefined;
  readonly aer: AerState | undefined;
  readonly #spec: EndpointSpec;
  readonly #regions = new Map<BarIndex, BarRegion>();
  readonly #logger: EndpointLogger;
  readonly #reporter: AccessReporter;
  readonly #placedPm: PowerManagementState | undefined;
  #context: DeviceContext | undefined;
  #closed = false;

  constructor(spec: EndpointSpec, options: EndpointInstanceOptions = {}) {
    validateSpec(spec);
    this.#spec = spec;
    this.name = spec.name ?? 'endpoint';
    this.#logger = options.logger ?? consoleLogger;
    this.#reporter = {
      guestError: (message, detail) => this.#guestError(message, detail),
      deviceError: (error, where) => this.#deviceError(error, where),
    };
    const bars = declaredBars(spec);

    // Config space: header table, BARs, capability lists (PCI 3.0 §6.1, §6.7; PCIe 6.0 §7.6).
    const config = new ConfigSpace(configSpaceSizeOf(spec));
    this.config = config;
    config.defineAll(
      headerRegisters({ ids: spec.ids, interruptPin: spec.interruptPin ?? 0, hasIoBar: bars.some((b) => b.layout.space === 'io') }),
    );
    this.commandStatus = new CommandStatus(config);
    this.bars = new BarRegisters(
      config,
      bars.map((b) => b.layout),
    );
    const placed = installCapabilities(config, spec.capabilities ?? []);
    const placedExt = installExtendedCapabilities(config, spec.extendedCapabilities ?? []);
    config.captureDefaults();
    this.msi = placed.find((p) => isMsi(p.capability))?.state as MsiState | undefined;
    this.msix = placed.find((p) => isMsix(p.capability))?.state as MsixState | undefined;
    this.pciExpress = placed.find((p) => isPciExpress(p.capability))?.state as PciExpressState | undefined;
    this.#placedPm = placed.find((p) => p.capability.kind === 'power-management')?.state as PowerManagementState | undefined;
    this.aer = placedExt.find((p) => p.capability.kind === 'aer')?.state as AerState | undefined;

    // BAR backing: shared memory for memory BARs.
    const provider = options.memory ?? heapBarMemory;
    for (const b of bars) {
      const memory =
        b.declaration.kind === 'memory'
          ? (b.declaration.provider ?? provider).create(`${this.name}-bar${b.index}`, b.layout.size)
          : undefined;
      this.#regions.set(b.index, new BarRegion(b.index, b.declaration, memory, this.msix));
    }

    this.interrupts = new InterruptController({
      commandStatus: this.commandStatus,
      intx: (spec.interruptPin ?? 0) !== 0,
      msi: this.msi,
      msix: this.msix,
      context: () => this.#context,
    });
    this.handle = this.#makeHandle();
    this.#wireConfigEvents();
    this.#runHook('setup', () => spec.setup?.(this.handle));
  }

  /** Address of BAR `index` as programmed by the guest. */
  barAddress(index: BarIndex): bigint | undefined {
    return this.bars.address(index);
  }

  /** Subscribes to BAR address changes. Returns an unsubscribe. */
  onBarAddress(listener: BarAddressListener): () => void {
    return this.bars.onAddress(listener);
  }

  get busMasterEnabled(): boolean {
    return this.commandStatus.busMasterEnabled;
  }

  get attached(): boolean {
    return this.#context !== undefined;
  }

  regions(): RegionInfo[] {
    const out: RegionInfo[] = [];
    for (let index = 0; index <= RegionIndex.VGA; index++) {
      const region = index < BAR_COUNT ? this.#regions.get(index as BarIndex) : undefined;
      if (region) out.push(region.regionInfo());
      else if (index === RegionIndex.CONFIG) {
        out.push({ index, size: BigInt(this.config.size), flags: RegionFlags.READ | RegionFlags.WRITE });
      } else out.push({ index, size: 0n, flags: 0 });
    }
    return out;
  }

  irqs(): IrqInfo[] {
    const intx = (this.#spec.interruptPin ?? 0) !== 0;
    const { EVENTFD, MASKABLE, AUTOMASKED, NORESIZE } = IrqInfoFlags;
    return [
      // INTx is level-triggered and automasked until the client unmasks it (vfio-user.md §8).
      { index: IrqIndex.INTX, count: intx ? 1 : 0, flags: intx ? EVENTFD | MASKABLE | AUTOMASKED : EVENTFD },
      { index: IrqIndex.MSI, count: this.msi?.vectors ?? 0, flags: EVENTFD | NORESIZE },
      // No NORESIZE for MSI-X: QEMU can add vectors one at a time (vfio-user.md §8).
      { index: IrqIndex.MSIX, count: this.msix?.vectors ?? 0, flags: EVENTFD },
      { index: IrqIndex.ERR, count: this.aer ? 1 : 0, flags: EVENTFD },
      { index: IrqIndex.REQ, count: 0, flags: EVENTFD },
    ];
  }

  regionRead(index: number, offset: bigint, size: number): Uint8Array {
    const off = this.#offset(index, offset, size, 'read');
    if (off === undefined) return new Uint8Array(Math.max(0, size)).fill(0xff);
    if (index === RegionIndex.CONFIG) return this.config.read(off, size);
    return (this.#regions.get(index as BarIndex) as BarRegion).read(off, size, this.handle, this.#reporter);
  }

  regionWrite(index: number, offset: bigint, data: Uint8Array): void {
    const off = this.#offset(index, offset, data.length, 'write');
    if (off === undefined) return;
    if (index === RegionIndex.CONFIG) {
      try {
        this.config.write(off, data);
      } catch (error) {
        this.#deviceError(error, `config write at ${hex(off)}`);
      }
      return;
    }
    (this.#regions.get(index as BarIndex) as BarRegion).write(off, data, this.handle, this.#reporter);
  }

  /** Conventional reset: config defaults (sticky bits kept), BARs unprogrammed, interrupts idle, then the `reset` hook. */
  reset(): void {
    this.config.reset();
    this.bars.refreshAll();
    this.interrupts.reset();
    this.#runHook('reset', () => this.#spec.reset?.(this.handle));
  }

  attach(ctx: DeviceContext): void {
    this.#context = ctx;
    this.#runHook('attach', () => this.#spec.attach?.(this.handle));
  }

  detach(): void {
    this.#context = undefined;
    this.#runHook('detach', () => this.#spec.detach?.(this.handle));
  }

  /** Releases shared memory. The instance must not be served afterwards. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const region of this.#regions.values()) region.memory?.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** Validates a region access; returns the offset as a number, or undefined after logging a guest error. */
  #offset(index: number, offset: bigint, size: number, what: string): number | undefined {
    const limit =
      index === RegionIndex.CONFIG
        ? this.config.size
        : index >= 0 && index < BAR_COUNT
          ? this.#regions.get(index as BarIndex)?.size
          : undefined;
    if (limit === undefined) {
      this.#guestError(`${what} of region ${index}, which does not exist`, { region: index, offset: Number(offset), size });
      return undefined;
    }
    if (!Number.isInteger(size) || size <= 0 || offset < 0n || offset + BigInt(size) > BigInt(limit)) {
      this.#guestError(`${size}-byte ${what} at ${hex(offset)} outside region ${index} (${hex(limit)} bytes)`, {
        region: index,
        offset: Number(offset),
        size,
      });
      return undefined;
    }
    return Number(offset);
  }

  #guestError(message: string, detail?: Record<string, unknown>): void {
    const ctx = this.#context;
    if (ctx) ctx.guestError(`${this.name}: ${message}`, detail);
    else this.#logger.guestError(`${this.name}: ${message}`, detail);
  }

  #deviceError(error: unknown, where: string): void {
    const ctx = this.#context;
    if (ctx) ctx.deviceError(`${this.name}: ${where}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    else this.#logger.deviceError(error, where);
  }

  #runHook(name: string, fn: () => void): void {
    try {
      fn();
    } catch (error) {
      if (name === 'setup') throw error; // a broken setup is a construction failure
      this.#deviceError(error, `${name} hook`);
    }
  }

  #wireConfigEvents(): void {
    const { config, interrupts } = this;
    config.onWrite(PciHeader.COMMAND, 2, (write) => {
      const before = (write.previous[0] ?? 0) | ((write.previous[1] ?? 0) << 8);
      const after = config.get16(PciHeader.COMMAND);
      const rose = (bit: number) => (before & bit) === 0 && (after & bit) !== 0;
      const fell = (bit: number) => (before & bit) !== 0 && (after & bit) === 0;
      if (rose(PciCommand.BUS_MASTER) || fell(PciCommand.INTERRUPT_DISABLE)) interrupts.deliverPending();
    });
    this.msix?.onChange(() => interrupts.deliverPending());
    this.msi?.onChange(() => interrupts.deliverPending());
    this.pciExpress?.onFunctionLevelReset(() => this.reset()); // PCIe 6.0 §6.6.2
    const pm = this.#placedPm;
    // D3hot → D0 without No_Soft_Reset is an internal reset (PM 1.2 §5.4.1).
    if (pm && !pm.noSoftReset) {
      pm.onPowerState((state, previous) => {
        if (previous === 3 && state === 0) this.reset();
      });
    }
    this.bars.onAddress((bar, address) => {
      this.#runHook('onBarAddress', () => this.#spec.onBarAddress?.(this.handle, bar, address));
    });
  }

  #makeHandle(): EndpointHandle {
    const self = this;
    const dma = new GatedDmaSpace(
      () => this.#context,
      () => this.commandStatus.busMasterEnabled,
    );
    const barHandle = (index: BarIndex): BarHandle => {
      const region = self.#regions.get(index);
      if (!region) throw new RangeError(`BAR${index} is not declared`);
      return {
        index,
        kind: region.declaration.kind,
        size: region.size,
        get address() {
          return self.bars.address(index);
        },
        get bytes() {
          return region.memory?.bytes;
        },
      };
    };
    return {
      config: this.config,
      dma,
      get attached() {
        return self.attached;
      },
      get busMasterEnabled() {
        return self.commandStatus.busMasterEnabled;
      },
      get memorySpaceEnabled() {
        return self.commandStatus.memorySpaceEnabled;
      },
      get interruptMode() {
        return self.interrupts.mode;
      },
      raise: (vector?: number) => this.interrupts.raise(vector),
      lowerIntx: () => this.interrupts.lowerIntx(),
      bar: barHandle,
      memory(index) {
        const bytes = barHandle(index).bytes;
        if (!bytes) throw new RangeError(`BAR${index} is not a memory BAR`);
        return bytes;
      },
      guestError: (message, detail) => this.#guestError(message, detail),
      // formatLogDetail: details carry bigint addresses, which JSON.stringify throws on.
      deviceError: (message, detail) => this.#deviceError(`${message}${formatLogDetail(detail)}`, 'device'),
      aer: this.aer,
    };
  }
}
