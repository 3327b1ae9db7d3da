/**
 * Guest-visible memory as a device sees it: its bus-master address space. The vfio-user server
 * implements it over DMA_MAP windows and DMA_READ/DMA_WRITE messages; the fabric implements it over
 * the modelled PCIe topology; tests implement it over plain buffers.
 */

/**
 * A device's bus-master address space. Never awaited inside a region callback (a reply must not
 * wait for a DMA answer; see docs/architecture.md, "No deadlock, by construction").
 */
export interface DmaSpace {
  /** Read `length` bytes at bus address `address`. Rejects with a {@link DmaError} for unmapped/forbidden ranges. */
  read(address: bigint, length: number): Promise<Uint8Array>;
  /** Write `data` at bus address `address`. Rejects with a {@link DmaError}. */
  write(address: bigint, data: Uint8Array): Promise<void>;
  /**
   * Zero-copy access when the whole range lies in one mapped guest-RAM window with the needed
   * permission; `undefined` otherwise (then use read/write). The view is valid only until the next
   * turn of the event loop (a DMA_UNMAP may arrive); never keep it.
   */
  directView(address: bigint, length: number, forWrite: boolean): Uint8Array | undefined;
}

/** Failure of a device-initiated transfer. `errno` is a Linux {@link Errno} value (EFAULT, EPERM, ...). */
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
