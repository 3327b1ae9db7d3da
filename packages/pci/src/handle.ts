/** What device code sees of its own endpoint instance (setup/reset hooks and BAR handlers). */
import type { DmaSpace } from '@p2pkit/base';
import type { AerState } from './capabilities/aer.ts';
import type { BarIndex } from './config/bars.ts';
import type { ConfigSpace } from './config/space.ts';
import type { InterruptMode } from './interrupts.ts';

/** One BAR of an instance. */
export interface BarHandle {
  readonly index: BarIndex;
  readonly kind: 'mmio' | 'memory' | 'io';
  readonly size: number;
  /** Bus address the guest programmed, `undefined` while unprogrammed or being sized. */
  readonly address: bigint | undefined;
  /** Backing bytes of a memory BAR (shared with QEMU when mmapped); `undefined` for mmio/io BARs. */
  readonly bytes: Uint8Array | undefined;
}

export interface EndpointHandle {
  /** The function's configuration space (device-side accessors bypass guest masks). */
  readonly config: ConfigSpace;
  /** Guest memory; refuses while Bus Master Enable is clear or no client is attached. */
  readonly dma: DmaSpace;
  /** Whether a vfio-user client is attached. */
  readonly attached: boolean;
  readonly busMasterEnabled: boolean;
  readonly memorySpaceEnabled: boolean;
  /** Which mechanism `raise` currently uses. */
  readonly interruptMode: InterruptMode;
  /**
   * Signals interrupt `vector` through MSI-X, else MSI, else INTx (vector ignored; the line stays
   * asserted until {@link lowerIntx}). Returns whether a message/edge reached the client.
   */
  raise(vector?: number): boolean;
  /** Deasserts INTx (clears PciStatus.Interrupt). */
  lowerIntx(): void;
  bar(index: BarIndex): BarHandle;
  /** Backing bytes of memory BAR `index`; throws if it is not a memory BAR. */
  memory(index: BarIndex): Uint8Array;
  /** Logs a guest (driver) mistake through the client's context, or the fallback logger when detached. */
  guestError(message: string, detail?: Record<string, unknown>): void;
  /** Logs a bug of the device model (the server's `device` channel), apart from guest mistakes. */
  deviceError(message: string, detail?: Record<string, unknown>): void;
  /** AER state when the endpoint declares `aer()`. */
  readonly aer: AerState | undefined;
}
