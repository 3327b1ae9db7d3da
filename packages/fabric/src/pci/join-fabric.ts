/**
 * Puts a `@p2pkit/pci` endpoint on a fabric: its BARs are registered (memory BARs with their backing
 * bytes, MMIO BARs through the endpoint's own handlers, so peers in this process reach them without
 * QEMU), BAR addresses and the Command register follow the guest's config writes, and the
 * endpoint's DMA goes through the fabric's routing DmaSpace.
 */

import type { DeviceContext } from '@p2pkit/base';
import type { BarIndex, Endpoint } from '@p2pkit/pci';
import { type IrqInfo, RegionIndex, type RegionInfo, type VfioUserDevice } from '@p2pkit/vfio-user';
import type { Fabric } from '../fabric.ts';
import type { BarRegistration } from '../routing/address-map.ts';

/** The endpoint as served on the fabric; give this to the vfio-user server. */
export class FabricEndpoint implements VfioUserDevice, Disposable {
  readonly id: string;
  readonly endpoint: Endpoint;
  readonly fabric: Fabric;
  readonly #unsubscribe: () => void;
  readonly #unregister: () => void;

  constructor(fabric: Fabric, id: string, endpoint: Endpoint) {
    this.id = id;
    this.endpoint = endpoint;
    this.fabric = fabric;
    const bars: BarRegistration[] = [];
    for (let i = 0; i < 6; i++) {
      const index = i as BarIndex;
      const layout = endpoint.bars.layout(index);
      if (!layout || layout.space !== 'memory') continue;
      const handle = endpoint.handle.bar(index);
      const bytes = handle.bytes;
      bars.push({
        index,
        size: layout.size,
        prefetchable: layout.prefetchable,
        backing: bytes
          ? { bytes, read: (o, n) => bytes.slice(Number(o), Number(o) + n), write: (o, d) => bytes.set(d, Number(o)) }
          : { read: (o, n) => endpoint.regionRead(index, o, n), write: (o, d) => endpoint.regionWrite(index, o, d) },
      });
    }
    // Follow the guest's Command register exactly: both enables start off, as after reset.
    this.#unregister = fabric.registerEndpoint(id, { bars, enabled: false }).unregister;
    this.#unsubscribe = endpoint.onBarAddress((bar, address) => fabric.setBarAddress(id, bar, address));
    for (const b of bars) fabric.setBarAddress(id, b.index, endpoint.barAddress(b.index as BarIndex));
    this.#syncCommand();
  }

  regions(): RegionInfo[] {
    return this.endpoint.regions();
  }

  irqs(): IrqInfo[] {
    return this.endpoint.irqs();
  }

  regionRead(index: number, offset: bigint, size: number): Uint8Array {
    return this.endpoint.regionRead(index, offset, size);
  }

  regionWrite(index: number, offset: bigint, data: Uint8Array): void {
    this.endpoint.regionWrite(index, offset, data);
    if (index === RegionIndex.CONFIG) this.#syncCommand();
  }

  reset(): void {
    this.endpoint.reset();
    this.#syncCommand();
  }

  attach(ctx: DeviceContext): void {
    this.endpoint.attach({ ...ctx, dma: this.fabric.dmaSpaceFor(this.id, ctx.dma) });
  }

  detach(): void {
    this.endpoint.detach();
  }

  #syncCommand(): void {
    this.fabric.setMemorySpaceEnabled(this.id, this.endpoint.handle.memorySpaceEnabled);
    this.fabric.setBusMasterEnabled(this.id, this.endpoint.handle.busMasterEnabled);
  }

  /** Leave the fabric (the endpoint itself stays open). */
  close(): void {
    this.#unsubscribe();
    this.#unregister();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
