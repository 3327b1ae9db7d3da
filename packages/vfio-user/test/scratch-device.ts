/**
 * A hand-written VfioUserDevice for protocol tests (no PCI layer): config space, BAR0 registers,
 * a memfd-backed BAR2 with a trapped tail (sparse mmap), INTx + 4 MSI-X vectors.
 * BAR0: 0x00 scratch, 0x08 DMA source, 0x10 DMA destination, 0x18 length, 0x20 go (write 1),
 *       0x28 status (1 done, 2 error), 0x30 raise MSI-X vector N / 0x38 raise INTx / 0x40 raise MSI vector N.
 */

import { type DeviceContext, IrqIndex } from '@p2pkit/base';
import { SharedMemory } from '@p2pkit/native';
import { type IrqInfo, IrqInfoFlags, RegionFlags, type RegionInfo, type VfioUserDevice } from '../src/index.ts';

export class ScratchDevice implements VfioUserDevice {
  regs = new BigUint64Array(16);
  config = new Uint8Array(256);
  bar2 = SharedMemory.create('bar2', 2 << 20);
  ctx: DeviceContext | undefined;
  resets = 0;
  attaches = 0;
  detaches = 0;
  lastDma: Promise<void> | undefined;

  constructor() {
    const v = new DataView(this.config.buffer);
    v.setUint16(0, 0x1b36, true);
    v.setUint16(2, 0x10f0, true);
    v.setUint32(0x18, 0xc, true); // BAR2: 64-bit prefetchable
  }

  regions(): RegionInfo[] {
    const none = (index: number): RegionInfo => ({ index, size: 0n, flags: 0 });
    return [
      { index: 0, size: 4096n, flags: RegionFlags.READ | RegionFlags.WRITE },
      none(1),
      {
        index: 2,
        size: BigInt(this.bar2.size),
        flags: RegionFlags.READ | RegionFlags.WRITE | RegionFlags.MMAP | RegionFlags.CAPS,
        fd: this.bar2.fd.fd,
        sparseMmap: [{ offset: 0n, size: BigInt(this.bar2.size - 4096) }],
      },
      none(3),
      none(4),
      none(5),
      none(6),
      { index: 7, size: 256n, flags: RegionFlags.READ | RegionFlags.WRITE },
      none(8),
    ];
  }

  irqs(): IrqInfo[] {
    return [
      { index: 0, count: 1, flags: IrqInfoFlags.EVENTFD | IrqInfoFlags.MASKABLE | IrqInfoFlags.AUTOMASKED },
      { index: 1, count: 2, flags: IrqInfoFlags.EVENTFD | IrqInfoFlags.NORESIZE },
      { index: 2, count: 4, flags: IrqInfoFlags.EVENTFD | IrqInfoFlags.MASKABLE },
      { index: 3, count: 0, flags: IrqInfoFlags.EVENTFD },
      { index: 4, count: 0, flags: IrqInfoFlags.EVENTFD },
    ];
  }

  regionRead(index: number, offset: bigint, size: number): Uint8Array {
    if (index === 7) return this.config.slice(Number(offset), Number(offset) + size);
    if (index === 2) return this.bar2.bytes.slice(Number(offset), Number(offset) + size);
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(this.regs[Number(offset) >> 3] ?? 0n);
    return b.subarray(0, size);
  }

  regionWrite(index: number, offset: bigint, data: Uint8Array): void {
    if (index === 7) return this.config.set(data, Number(offset));
    if (index === 2) return this.bar2.bytes.set(data, Number(offset));
    const b = Buffer.alloc(8);
    b.set(data);
    const reg = Number(offset) >> 3;
    this.regs[reg] = b.readBigUInt64LE(0);
    if (reg === 4 && this.regs[4] === 1n) this.lastDma = this.#runDma(); // scheduled, never awaited here
    if (reg === 6) this.ctx?.irq.trigger(IrqIndex.MSIX, Number(this.regs[6]));
    if (reg === 7) this.ctx?.irq.trigger(IrqIndex.INTX, 0);
    if (reg === 8) this.ctx?.irq.trigger(IrqIndex.MSI, Number(this.regs[8]));
  }

  async #runDma(): Promise<void> {
    const ctx = this.ctx;
    if (!ctx) return;
    try {
      const data = await ctx.dma.read(this.regs[1] as bigint, Number(this.regs[3]));
      await ctx.dma.write(this.regs[2] as bigint, data);
      this.regs[5] = 1n;
      ctx.irq.trigger(IrqIndex.MSIX, 0);
    } catch {
      this.regs[5] = 2n;
    }
  }

  reset(): void {
    this.resets++;
    this.regs.fill(0n);
  }

  attach(ctx: DeviceContext): void {
    this.attaches++;
    this.ctx = ctx;
  }

  detach(): void {
    this.detaches++;
    this.ctx = undefined;
  }

  close(): void {
    this.bar2.close();
  }
}
