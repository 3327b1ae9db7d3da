/** What a device is handed while a client (QEMU) is connected: guest memory, interrupts, log channels. */
import type { DmaSpace } from './dma.ts';

/** Interrupt kinds, numbered as VFIO numbers its PCI IRQ indexes (VFIO_PCI_*_IRQ_INDEX). */
export const IrqIndex = { INTX: 0, MSI: 1, MSIX: 2, ERR: 3, REQ: 4 } as const;
/** One of the {@link IrqIndex} values. */
export type IrqIndexValue = (typeof IrqIndex)[keyof typeof IrqIndex];

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
