import type { DmaSpace } from '@p2pkit/base';

/** How the controller reaches the world; the PCI layer implements it. */
export interface NvmeControllerHost {
  /** Bus-master address space (guest RAM through DMA_MAP, peers through DMA_READ/WRITE). */
  dma: DmaSpace;
  /** Signal MSI-X vector `vector` (the PCI layer falls back to MSI / INTx). */
  raiseInterrupt(vector: number): void;
  /** Every CQ using `vector` is empty again: a pin-based (INTx) implementation may deassert. */
  clearInterrupt?(vector: number): void;
  /** A driver mistake (bad PRP, doorbell of a missing queue, ...), kept apart from device bugs. */
  guestError(message: string, detail?: Record<string, unknown>): void;
  /** A controller bug or backing-store failure; default console.error. */
  deviceError?(message: string, detail?: Record<string, unknown>): void;
}
