import { afterEach, describe, expect, it } from 'vitest';
import { InterruptController } from '../src/interrupts.ts';
import { bringUp, makeRig, type Rig } from './helpers.ts';

let rig: Rig | undefined;
afterEach(async () => rig?.cleanup());

describe('interrupt coalescing (Features 08h/09h)', () => {
  it('aggregates by threshold, flushes by time, never coalesces vector 0 or CD vectors', async () => {
    const fired: number[] = [];
    const irq = new InterruptController((v) => fired.push(v), 8);
    irq.setCoalescing(2, 0); // 3 completions per interrupt
    irq.notify(1);
    irq.notify(1);
    expect(fired).toEqual([]);
    irq.notify(1);
    expect(fired).toEqual([1]);
    irq.notify(0);
    expect(fired).toEqual([1, 0]);
    irq.setCoalescingDisabled(2, true);
    irq.notify(2);
    expect(fired).toEqual([1, 0, 2]);
    irq.setCoalescing(9, 1); // time limit 100 µs
    irq.notify(3);
    expect(fired).toEqual([1, 0, 2]);
    await new Promise((r) => setTimeout(r, 10));
    expect(fired).toEqual([1, 0, 2, 3]);
    irq.reset();
    irq.notify(4);
    expect(fired).toEqual([1, 0, 2, 3, 4]);
  });

  it('signals clearInterrupt when every CQ on a vector is drained (pin-based hosts)', async () => {
    rig = await makeRig();
    const cleared: number[] = [];
    Object.assign(rig.host, { clearInterrupt: (v: number) => cleared.push(v) });
    await bringUp(rig);
    const buf = rig.drv.alloc(4096);
    await rig.drv.rw(1, 2, 1, 0n, 1, buf, 512);
    expect(cleared).toContain(1);
    expect(cleared).toContain(0);
  });

  it('Identify with NSID FFFFFFFFh returns the common LBA formats', async () => {
    rig = await makeRig();
    await rig.drv.enable();
    const id = await rig.drv.identify(0, 0xffffffff);
    expect(id.cqe.status).toBe(0);
    expect(id.data[25]).toBe(1);
    expect((new DataView(id.data.buffer).getUint32(132, true) >>> 16) & 0xff).toBe(12);
  });
});
