/**
 * The contract between the vfio-user server and the device it serves.
 *
 * The server owns the protocol (framing, DMA_MAP table, SET_IRQS state); a device only sees
 * regions, interrupts and guest memory. `@p2pkit/pci` implements this interface for endpoints
 * declared with `defineEndpoint`, so device authors rarely implement it by hand.
 */
import type { DeviceContext } from '@p2pkit/base';

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
