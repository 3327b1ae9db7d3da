/** Test doubles: a recording DeviceContext and config-space access helpers. */
import type { DeviceContext, DmaSpace, IrqIndexValue } from '@p2pkit/base';
import { RegionIndex, type VfioUserDevice } from '@p2pkit/vfio-user';
import type { BarMemoryProvider } from '../src/index.ts';

export interface FakeContext extends DeviceContext {
  triggers: Array<{ index: IrqIndexValue; vector: number }>;
  guestErrors: string[];
  deviceErrors: string[];
  enabled: Set<IrqIndexValue>;
  /** Vectors for which trigger() reports false (e.g. masked in QEMU). */
  refuse: Set<number>;
  dmaCalls: string[];
}

export function fakeContext(): FakeContext {
  const ctx: FakeContext = {
    triggers: [],
    guestErrors: [],
    deviceErrors: [],
    enabled: new Set(),
    refuse: new Set(),
    dmaCalls: [],
    dma: {
      async read(address, length) {
        ctx.dmaCalls.push(`read ${address} ${length}`);
        return new Uint8Array(length);
      },
      async write(address, data) {
        ctx.dmaCalls.push(`write ${address} ${data.length}`);
      },
      directView(address, length) {
        ctx.dmaCalls.push(`view ${address} ${length}`);
        return undefined;
      },
    } satisfies DmaSpace,
    irq: {
      trigger(index, vector) {
        if (!ctx.enabled.has(index) || ctx.refuse.has(vector)) return false;
        ctx.triggers.push({ index, vector });
        return true;
      },
      isEnabled: (index) => ctx.enabled.has(index),
    },
    guestError(message) {
      ctx.guestErrors.push(message);
    },
    deviceError(message) {
      ctx.deviceErrors.push(message);
    },
  };
  return ctx;
}

/** Little-endian config read of `size` bytes (1, 2, 4). */
export function cfgRead(dev: VfioUserDevice, offset: number, size: 1 | 2 | 4): number {
  const b = dev.regionRead(RegionIndex.CONFIG, BigInt(offset), size);
  let v = 0;
  for (let i = size - 1; i >= 0; i--) v = v * 256 + (b[i] ?? 0);
  return v;
}

/** Little-endian config write of `size` bytes. */
export function cfgWrite(dev: VfioUserDevice, offset: number, size: 1 | 2 | 4, value: number): void {
  const b = new Uint8Array(size);
  for (let i = 0; i < size; i++) b[i] = Math.floor(value / 256 ** i) & 0xff;
  dev.regionWrite(RegionIndex.CONFIG, BigInt(offset), b);
}

/** A shared-memory provider handing out fake fds, recording closes. */
export function fakeMemfdProvider(): BarMemoryProvider & { closed: number[] } {
  let next = 100;
  const closed: number[] = [];
  return {
    closed,
    create(_name, size) {
      const fd = next++;
      return { fd, bytes: new Uint8Array(size), close: () => closed.push(fd) };
    },
  };
}

export const silentLogger = {
  deviceError: () => {},
  guestError: () => {},
};
