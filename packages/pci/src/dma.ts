/** Device-initiated memory access, gated by Bus Master Enable (PCI 3.0 §6.2.2, PCIe 6.0 §7.5.1.1.3). */
import { type DeviceContext, DmaError, type DmaRange, type DmaSpace, directViewsOf, Errno, hex } from '@p2pkit/base';

/** Why a DMA was refused before reaching the client. */
export type DmaRefusal = 'bus-master-disabled' | 'detached';

/**
 * Thrown (or rejected) when the device attempts DMA it is not allowed to issue. It is a
 * {@link DmaError} (EPERM while Bus Master Enable is clear, ENODEV while detached), so device models
 * treat it like any refused transfer (NVMe: Data Transfer Error), never as a device bug.
 */
export class DmaRefusedError extends DmaError {
  constructor(
    readonly reason: DmaRefusal,
    address: bigint,
    length: number,
  ) {
    super(
      reason === 'bus-master-disabled'
        ? `DMA of ${length} bytes at ${hex(address)} refused: Bus Master Enable is clear in the Command register`
        : `DMA of ${length} bytes at ${hex(address)} refused: no vfio-user client is attached`,
      address,
      length,
      reason === 'bus-master-disabled' ? Errno.EPERM : Errno.ENODEV,
    );
    this.name = 'DmaRefusedError';
  }
}

/**
 * A {@link DmaSpace} that forwards to the attached client only while Bus Master Enable is set.
 * `read`/`write` reject with {@link DmaRefusedError}; `directView` and `directViews` throw it.
 */
export class GatedDmaSpace implements DmaSpace {
  constructor(
    private readonly context: () => DeviceContext | undefined,
    private readonly busMasterEnabled: () => boolean,
  ) {}

  async read(address: bigint, length: number): Promise<Uint8Array> {
    return this.#target(address, length).read(address, length);
  }

  async write(address: bigint, data: Uint8Array): Promise<void> {
    return this.#target(address, data.length).write(address, data);
  }

  directView(address: bigint, length: number, forWrite: boolean): Uint8Array | undefined {
    return this.#target(address, length).directView(address, length, forWrite);
  }

  directViews(ranges: readonly DmaRange[], forWrite: boolean): Uint8Array[] | undefined {
    const first = ranges[0];
    if (!first) return [];
    return directViewsOf(this.#target(first.address, first.length), ranges, forWrite);
  }

  #target(address: bigint, length: number): DmaSpace {
    const ctx = this.context();
    if (!ctx) throw new DmaRefusedError('detached', address, length);
    if (!this.busMasterEnabled()) throw new DmaRefusedError('bus-master-disabled', address, length);
    return ctx.dma;
  }
}
