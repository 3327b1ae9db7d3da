import { IrqIndex } from '@p2pkit/base';
import { type NvmeHarness, startNvmeHarness, waitUntil } from '@p2pkit/nvme/testing';
import { IrqSetFlags } from '@p2pkit/vfio-user';
import { afterEach, describe, expect, it } from 'vitest';
import type { NvmeControllerHost } from '../src/index.ts';
import { InterruptController } from '../src/interrupts.ts';

let rig: NvmeHarness | undefined;
afterEach(async () => rig?.close());

describe('interrupt coalescing (Features 08h/09h)', () => {
  it('aggregates by threshold, flushes by time, never coalesces vector 0 or CD vectors', async () => {
    const fired: number[] = [];
    const irq = new InterruptController((v) => fired.push(v), 8);
    irq.setCoalescing(2, 255); // 3 completions per interrupt, or 25.5 ms
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
    // No MSI-X eventfds: the client binds only the INTx eventfd, so the endpoint falls back to INTx.
    const r = await startNvmeHarness({ interruptMode: 'intx' });
    rig = r;
    const { driver, client, nvme } = r;
    // Record the controller's clearInterrupt calls (they still go through to the endpoint's INTx deassert).
    const controllerHost = (rig.controller as unknown as { host: NvmeControllerHost }).host;
    const cleared: number[] = [];
    const clear = controllerHost.clearInterrupt?.bind(controllerHost);
    controllerHost.clearInterrupt = (v: number) => {
      cleared.push(v);
      clear?.(v);
    };
    const intxStatus = async () => ((await r.configRead32(4)) >>> 16) & 0x8; // Status.Interrupt
    await rig.driver.bringUp();
    expect(nvme.endpoint.handle.interruptMode).toBe('intx');
    expect(rig.interrupts.count(0)).toBeGreaterThan(0); // the INTx eventfd fired
    expect(await intxStatus()).toBe(0); // admin CQ drained: deasserted
    // INTx is automasked after each trigger; QEMU unmasks it once the guest has serviced it (EOI),
    // and a trigger that arrived while masked is signalled then.
    const eoi = () =>
      client.setIrqs({ index: IrqIndex.INTX, flags: IrqSetFlags.DATA_NONE | IrqSetFlags.ACTION_UNMASK, start: 0, count: 1 });
    await eoi();
    rig.interrupts.clear();
    const buf = driver.memory.alloc(4096);
    const cid = driver.enqueue(1, { opcode: 2, nsid: 1, prp1: buf, cdw12: 0 });
    await driver.ringSqTail(1);
    await waitUntil(() => driver.hasCompletion(1), 'read completion');
    expect(await intxStatus()).toBe(0x8); // asserted while the CQE is unconsumed
    await eoi();
    expect(rig.interrupts.count(0)).toBe(1);
    expect((await driver.waitForCompletion(1, cid)).status).toBe(0); // consumes it and writes the CQ head doorbell
    expect(await intxStatus()).toBe(0);
    expect(cleared).toContain(1);
    expect(cleared).toContain(0);
  });

  it('Identify with NSID FFFFFFFFh returns the common LBA formats', async () => {
    rig = await startNvmeHarness();
    await rig.driver.enable();
    const id = await rig.driver.identify(0, 0xffffffff);
    expect(id.completion.status).toBe(0);
    expect(id.data[25]).toBe(4); // NLBAF: 512, 4096, 512+8, 4096+8, 4096+64
    expect((new DataView(id.data.buffer).getUint32(132, true) >>> 16) & 0xff).toBe(12);
  });
});
