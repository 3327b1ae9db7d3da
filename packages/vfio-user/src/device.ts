/**
 * The contract between the vfio-user server and the device it serves.
 *
 * The server owns the protocol (framing, DMA_MAP table, SET_IRQS state); a device only sees
 * regions, interrupts and guest memory. `@p2pkit/pci` implements this interface for endpoints
 * declared with `defineEndpoint`, so device authors rarely implement it by hand.
 */

/** Region indexes of a vfio-user PCI device (VFIO_PCI_*_REGION_INDEX). */
export const RegionIndex = {
  BAR0: 0,
  BAR1: 1,
  BAR2: 2,
  BAR3: 3,
  BAR4: 4,
  BAR5: 5,
  ROM: 6,
  CONFIG: 7,
  VGA: 8,
} as const;

/** IRQ indexes (VFIO_PCI_*_IRQ_INDEX). */
export const IrqIndex = { INTX: 0, MSI: 1, MSIX: 2, ERR: 3, REQ: 4 } as const;
export type IrqIndexValue = (typeof IrqIndex)[keyof typeof IrqIndex];

/** Region flags in DEVICE_GET_REGION_INFO replies. */
export const RegionFlags = { READ: 1, WRITE: 2, MMAP: 4, CAPS: 8 } as const;

/** IRQ info flags in DEVICE_GET_IRQ_INFO replies. */
export const IrqInfoFlags = { EVENTFD: 1, MASKABLE: 2, AUTOMASKED: 4, NORESIZE: 8 } as const;

/** One area of a region that the client may mmap (the sparse-mmap capability). */
export interface MmapArea {
  offset: bigint;
  size: bigint;
}

/** What the server reports for one region index. Unused indexes have size 0 and flags 0. */
export interface RegionInfo {
  index: number;
  size: bigint;
  /** Combination of {@link RegionFlags}. MMAP requires `fd`. */
  flags: number;
  /** File descriptor the client may mmap (memfd or file). Owned by the device; the server only sends it. */
  fd?: number;
  /** Offset inside `fd` where the region starts. */
  fdOffset?: bigint;
  /** When set, only these areas are mmappable and the rest of the region is trapped. */
  sparseMmap?: MmapArea[];
}

export interface IrqInfo {
  index: number;
  count: number;
  /** Combination of {@link IrqInfoFlags}. */
  flags: number;
}

/**
 * Guest-visible memory as the device sees it (its bus-master address space).
 * `read`/`write` resolve through DMA_MAP windows when possible (zero-copy) and otherwise fall back to
 * server→client DMA_READ/DMA_WRITE messages. Never awaited inside a region callback: see docs/architecture.md.
 */
export interface DmaSpace {
  /** Read `length` bytes at bus address `address`. Rejects with a {@link DmaError} for unmapped/forbidden ranges. */
  read(address: bigint, length: number): Promise<Uint8Array>;
  /** Write `data` at bus address `address`. */
  write(address: bigint, data: Uint8Array): Promise<void>;
  /**
   * Zero-copy access when the whole range lies in one mapped guest-RAM window with the needed
   * permission; `undefined` otherwise (then use read/write). The view is valid only until the next
   * turn of the event loop (a DMA_UNMAP may arrive); never keep it.
   */
  directView(address: bigint, length: number, forWrite: boolean): Uint8Array | undefined;
}

/** Failure of a device-initiated transfer. `errno` follows the vfio-user convention (EFAULT, EPERM, ...). */
export class DmaError extends Error {
  constructor(
    message: string,
    readonly address: bigint,
    readonly length: number,
    readonly errno: number,
  ) {
    super(message);
    this.name = 'DmaError';
  }
}

/** Interrupt delivery as seen by a device: the server signals whatever eventfd the client bound. */
export interface IrqSink {
  /** Signal vector `vector` of `index`. Returns false when nothing is bound or the vector is masked. */
  trigger(index: IrqIndexValue, vector: number): boolean;
  /** Whether the client bound at least one eventfd for `index` (e.g. the guest enabled MSI-X). */
  isEnabled(index: IrqIndexValue): boolean;
}

/** What the server hands a device when a client connects. */
export interface DeviceContext {
  dma: DmaSpace;
  irq: IrqSink;
  /** Logs a guest (driver) mistake, kept apart from device bugs. */
  guestError(message: string, detail?: Record<string, unknown>): void;
  /** Logs a bug in the device model itself (the `device` channel). */
  deviceError(message: string, detail?: Record<string, unknown>): void;
}

/**
 * A device served over vfio-user. Region accesses are synchronous: the reply is sent as soon as they
 * return. Work that needs DMA must be scheduled (it then runs after the reply is on the wire).
 */
export interface VfioUserDevice {
  /** Region descriptions, indexes 0..8 at least (BARs, ROM, CONFIG, VGA). */
  regions(): RegionInfo[];
  /** IRQ descriptions, indexes 0..4. */
  irqs(): IrqInfo[];
  /** Guest read of `size` bytes at `offset` in region `index`. Must return exactly `size` bytes. */
  regionRead(index: number, offset: bigint, size: number): Uint8Array;
  /** Guest write to region `index`. */
  regionWrite(index: number, offset: bigint, data: Uint8Array): void;
  /** DEVICE_RESET from the client (machine reset, FLR emulation by QEMU). */
  reset(): void;
  /** A client connected: the device may now DMA and raise interrupts through `ctx`. */
  attach(ctx: DeviceContext): void;
  /** The client went away; DMA windows and interrupt fds are already gone. Device state is kept. */
  detach(): void;
}
