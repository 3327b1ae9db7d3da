/** Shared fixtures: a fake vfio-user DmaSpace and the standard switch topology. */
import { DmaError, type DmaSpace, mib } from '@p2pkit/base';
import { acsRedirect, type BarBacking, Fabric, type FabricOptions, topology } from '../src/index.ts';

/**
 * Guest RAM `[0, ram.length)` served through directView (like mmapped DMA_MAP windows); anything
 * else goes to `remote` (like DMA_READ/DMA_WRITE messages through QEMU), failing with EFAULT if absent.
 */
export class FakeBaseDma implements DmaSpace {
  readonly calls = { read: 0, write: 0, directView: 0 };
  constructor(
    readonly ram: Uint8Array,
    readonly remote = new Map<bigint, Uint8Array>(),
    private readonly mmapped = true,
  ) {}

  private remoteRange(address: bigint, length: number): Uint8Array | undefined {
    for (const [base, bytes] of this.remote) {
      if (address >= base && address + BigInt(length) <= base + BigInt(bytes.length))
        return bytes.subarray(Number(address - base), Number(address - base) + length);
    }
    return undefined;
  }

  async read(address: bigint, length: number): Promise<Uint8Array> {
    this.calls.read++;
    const r =
      address + BigInt(length) <= BigInt(this.ram.length)
        ? this.ram.subarray(Number(address), Number(address) + length)
        : this.remoteRange(address, length);
    if (!r) throw new DmaError('fake base: unmapped', address, length, 14);
    return r.slice();
  }

  async write(address: bigint, data: Uint8Array): Promise<void> {
    this.calls.write++;
    const r =
      address + BigInt(data.length) <= BigInt(this.ram.length)
        ? this.ram.subarray(Number(address), Number(address) + data.length)
        : this.remoteRange(address, data.length);
    if (!r) throw new DmaError('fake base: unmapped', address, data.length, 14);
    r.set(data);
  }

  directView(address: bigint, length: number): Uint8Array | undefined {
    this.calls.directView++;
    if (!this.mmapped || address + BigInt(length) > BigInt(this.ram.length)) return undefined;
    return this.ram.subarray(Number(address), Number(address) + length);
  }
}

/** A BAR backed by plain memory. */
export function memoryBacking(size: number): BarBacking & { bytes: Uint8Array } {
  const bytes = new Uint8Array(size);
  return {
    bytes,
    read: (offset, length) => bytes.slice(Number(offset), Number(offset) + length),
    write: (offset, data) => bytes.set(data, Number(offset)),
  };
}

export const A_BAR = 0xf4000000n;
export const B_BAR = 0xf8000000n;
export const C_BAR = 0xfc000000n;
export const D_BAR = 0xfe000000n;

/**
 * host ─ rp0 ─ sw0 ─┬ dn0 ─ a   (BAR2 64 MiB local memory at A_BAR)
 *                   ├ dn1 ─ b   (BAR2 64 MiB local memory at B_BAR)
 *                   └ dn2 ─ c   (BAR0 16 KiB, served elsewhere, at C_BAR)
 *      ─ rp1 ─ d               (BAR0 1 MiB, served elsewhere, at D_BAR)
 */
export function switchRig(opts: { acsOn?: string[]; fabric?: FabricOptions; rootComplexPeerToPeer?: boolean } = {}) {
  const acsFor = (port: string) => (opts.acsOn?.includes(port) ? { acs: acsRedirect() } : {});
  const desc = topology({ rootComplexPeerToPeer: opts.rootComplexPeerToPeer ?? true })
    .rootPort('rp0', { link: { gen: 4, width: 16 } }, (rp) =>
      rp.switch('sw0', (sw) => {
        sw.downstream('dn0', acsFor('dn0')).attach('a');
        sw.downstream('dn1', acsFor('dn1')).attach('b');
        sw.downstream('dn2', acsFor('dn2')).attach('c');
      }),
    )
    .rootPort('rp1', (rp) => rp.attach('d'))
    .build();
  const fabric = new Fabric(desc, opts.fabric);
  const a = memoryBacking(mib(64));
  const b = memoryBacking(mib(64));
  fabric.registerEndpoint('a', { bars: [{ index: 2, size: mib(64), prefetchable: true, backing: a }] });
  fabric.registerEndpoint('b', { bars: [{ index: 2, size: mib(64), prefetchable: true, backing: b }] });
  fabric.registerEndpoint('c', { bars: [{ index: 0, size: 16384 }] });
  fabric.registerEndpoint('d', { bars: [{ index: 0, size: mib(1) }] });
  fabric.setBarAddress('a', 2, A_BAR);
  fabric.setBarAddress('b', 2, B_BAR);
  fabric.setBarAddress('c', 0, C_BAR);
  fabric.setBarAddress('d', 0, D_BAR);
  return { fabric, a, b, desc };
}

/** `dn0↑ dn1↓` for compact assertions. */
export function arrows(links: readonly { link: string; direction: string }[]): string {
  return links.map((l) => `${l.link}${l.direction === 'upstream' ? '↑' : '↓'}`).join(' ');
}
