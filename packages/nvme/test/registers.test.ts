import { type NvmeHarness, startNvmeHarness, waitUntil } from '@p2pkit/nvme/testing';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { IoOpcode, Reg } from '../src/index.ts';

let rig: NvmeHarness;
afterEach(async () => rig?.close());

const MiB = 1 << 20;

describe('controller registers', () => {
  it('CAP advertises queues, timeout, stride, page sizes, CMBS and PMRS', async () => {
    rig = await startNvmeHarness({
      doorbellStride: 16,
      readyTimeoutMs: 10_000,
      cmb: { size: 64 * MiB },
      pmr: { size: MiB },
    });
    const cap = await rig.driver.read64(Reg.CAP);
    expect(cap & 0xffffn).toBe(1023n);
    expect((cap >> 16n) & 1n).toBe(1n); // CQR
    expect((cap >> 24n) & 0xffn).toBe(20n); // TO
    expect((cap >> 32n) & 0xfn).toBe(2n); // DSTRD: 16 bytes
    expect((cap >> 48n) & 0xfn).toBe(0n);
    expect((cap >> 52n) & 0xfn).toBe(4n);
    expect((cap >> 56n) & 1n).toBe(1n);
    expect((cap >> 57n) & 1n).toBe(1n);
    // Sub-dword and 4-byte halves agree with the 8-byte read (REGION_READ of 4, 2 and 1 bytes).
    expect(await rig.driver.read(Reg.CAP + 4, 4)).toBe(cap >> 32n);
    expect(await rig.driver.read(Reg.CAP, 2)).toBe(cap & 0xffffn);
    expect(await rig.driver.read(Reg.CAP + 3, 1)).toBe((cap >> 24n) & 0xffn);
    expect(rig.controller.layout().registerBytes).toBeGreaterThanOrEqual(0x1000 + 2 * 65 * 16);
  });

  it('CMB follows nvme_map_cmb: CRE, CMBSZ/CMBLOC, CMBMSC high then low', async () => {
    rig = await startNvmeHarness({ cmb: { size: 64 * MiB } });
    const { driver, controller } = rig;
    expect(await driver.read32(Reg.CMBSZ)).toBe(0); // 1.4 scheme: 0 until CRE
    await driver.write32(Reg.CMBMSC, 1); // CRE
    expect(await driver.read32(Reg.CMBSZ)).toBe((64 << 12) | (2 << 8) | 0x1d);
    expect(await driver.read32(Reg.CMBLOC)).toBe(2);
    expect(controller.cmb?.busAddress).toBeUndefined();
    await driver.write32(Reg.CMBMSC + 4, 0x1);
    expect(controller.cmb?.busAddress).toBeUndefined(); // acts on the low half only
    await driver.write32(Reg.CMBMSC, 0xf4000000 | 3);
    expect(controller.cmb?.busAddress).toBe(0x1_f400_0000n);
    expect(await driver.read64(Reg.CMBMSC)).toBe(0x1_f400_0003n);
    expect(await driver.read32(Reg.CMBSTS)).toBe(0);
    await driver.write32(Reg.CMBMSC, 0); // "failed to register the CMB"
    expect(controller.cmb?.busAddress).toBeUndefined();
    await driver.write64(Reg.CMBMSC, 0xf400_0003n);
    expect(controller.cmb?.busAddress).toBe(0xf400_0000n);
  });

  it('PMR: PMRCTL.EN clears NRDY, disable flushes, PMRMSC decodes', async () => {
    rig = await startNvmeHarness({ pmr: { size: 2 * MiB } });
    const { driver, controller } = rig;
    // The endpoint's PMR flush is an msync of the file-backed BAR4: count the controller's flushes.
    const flush = vi.spyOn(controller.pmr!, 'flush');
    const pmrcap = await driver.read32(Reg.PMRCAP);
    expect(pmrcap & 0x18).toBe(0x18);
    expect((pmrcap >>> 5) & 7).toBe(4);
    expect((pmrcap >>> 24) & 1).toBe(1);
    expect((await driver.read32(Reg.PMRSTS)) & 0x100).toBe(0x100);
    await driver.write32(Reg.PMRCTL, 1);
    expect(await driver.read32(Reg.PMRCTL)).toBe(1);
    expect((await driver.read32(Reg.PMRSTS)) & 0x100).toBe(0);
    await driver.write32(Reg.PMRMSCU, 0);
    await driver.write32(Reg.PMRMSCL, 0xe000_0002);
    expect(controller.pmr?.busAddress).toBe(0xe000_0000n);
    await driver.write32(Reg.PMRCTL, 0);
    await new Promise((r) => setImmediate(r));
    expect(flush).toHaveBeenCalledTimes(1);
    expect((await driver.read32(Reg.PMRSTS)) & 0x100).toBe(0x100);
    expect(controller.pmr?.busAddress).toBeUndefined();
  });

  it('refuses to enable with bad AQA / MPS / CSS and logs a guest error', async () => {
    rig = await startNvmeHarness();
    const { driver } = rig;
    await driver.write32(Reg.AQA, 0); // 1-entry queues
    await driver.write64(Reg.ASQ, 0x200000n);
    await driver.write64(Reg.ACQ, 0x201000n);
    await driver.write32(Reg.CC, 1);
    expect((await driver.read32(Reg.CSTS)) & 1).toBe(0);
    await driver.write32(Reg.CC, 0);
    await driver.write32(Reg.AQA, 0x001f001f);
    await driver.write32(Reg.CC, 1 | (5 << 7)); // MPS 128 KiB > MPSMAX
    expect((await driver.read32(Reg.CSTS)) & 1).toBe(0);
    await driver.write32(Reg.CC, 0);
    await driver.write32(Reg.CC, 1 | (1 << 4)); // CSS 1
    expect((await driver.read32(Reg.CSTS)) & 1).toBe(0);
    expect(rig.guestErrors.filter((e) => e.message.startsWith('controller enable refused'))).toHaveLength(3);
    await driver.write32(Reg.CC, 0);
    await driver.write32(Reg.CC, 1 | (6 << 16) | (4 << 20));
    expect((await driver.read32(Reg.CSTS)) & 1).toBe(1);
  });

  it('normal shutdown reports SHST complete after flushing, CC.EN=0 resets', async () => {
    rig = await startNvmeHarness();
    const { driver, controller } = rig;
    await rig.driver.bringUp();
    await driver.write32(Reg.CC, (await driver.read32(Reg.CC)) | (1 << 14));
    // Shutdown processing occurring (01b), or already complete (10b) when the flush won the race
    // with this read; never normal operation (00b) once CC.SHN is set.
    expect([1, 2]).toContain(((await driver.read32(Reg.CSTS)) >>> 2) & 3);
    // nvme_disable_ctrl(shutdown): poll CSTS.SHST until complete.
    await waitUntil(async () => (await driver.read32(Reg.CSTS)) >>> 2 === 2, 'SHST complete');
    expect(((await driver.read32(Reg.CSTS)) >>> 2) & 3).toBe(2);
    expect(controller.stats.shutdowns).toBe(1);
    await driver.write32(Reg.CC, 0);
    expect(await driver.read32(Reg.CSTS)).toBe(0);
    expect(controller.queues.sqs.size).toBe(0);
    await rig.driver.bringUp();
  });

  it('device reset (FLR) clears every register including CMBMSC and AQA', async () => {
    rig = await startNvmeHarness({ cmb: { size: 4 * MiB } });
    const { driver, client } = rig;
    await driver.write32(Reg.CMBMSC, 3 | 0x8000_0000);
    await rig.driver.bringUp();
    await client.reset(); // DEVICE_RESET, as QEMU sends for a function reset
    expect((await rig.configRead32(4)) & 0x4).toBe(0); // the PCI command register was reset too
    expect(await driver.read32(Reg.CC)).toBe(0);
    expect(await driver.read32(Reg.CSTS)).toBe(0);
    expect(await driver.read32(Reg.AQA)).toBe(0);
    expect(await driver.read64(Reg.ASQ)).toBe(0n);
    expect(await driver.read64(Reg.CMBMSC)).toBe(0n);
    await rig.enableBusMaster(); // pci_restore_state after the reset
    await rig.driver.bringUp();
  });

  it('NSSR with "NVMe" resets and sets CSTS.NSSRO (RW1C)', async () => {
    rig = await startNvmeHarness();
    const { driver } = rig;
    await rig.driver.bringUp();
    await driver.write32(Reg.NSSR, 0x1234);
    expect((await driver.read32(Reg.CSTS)) & 1).toBe(1);
    await driver.write32(Reg.NSSR, 0x4e564d65);
    expect(await driver.read32(Reg.CSTS)).toBe(0x10);
    await driver.write32(Reg.CSTS, 0x10);
    expect(await driver.read32(Reg.CSTS)).toBe(0);
  });

  it('INTMS masks a vector until INTMC, then the pending interrupt fires', async () => {
    rig = await startNvmeHarness();
    const { driver } = rig;
    await rig.driver.bringUp();
    await driver.write32(Reg.INTMS, 1 << 1);
    expect(await driver.read32(Reg.INTMC)).toBe(2);
    rig.interrupts.clear();
    const buf = driver.memory.alloc(4096);
    await driver.readWrite(1, { opcode: IoOpcode.Read, nsid: 1, slba: 0n, blocks: 1, buffer: buf, bytes: 512 });
    expect(rig.interrupts.fired()).not.toContain(1);
    expect(rig.interrupts.count(1)).toBe(0); // the vector 1 eventfd was not signalled
    await driver.write32(Reg.INTMC, 1 << 1);
    expect(rig.interrupts.fired()).toContain(1);
    expect(rig.interrupts.count(1)).toBe(1);
  });

  it('doorbell errors: missing queue and bad value raise error AENs', async () => {
    rig = await startNvmeHarness();
    const { driver } = rig;
    await rig.driver.bringUp();
    const aer = driver.enqueue(0, { opcode: 0x0c });
    await driver.ringSqTail(0);
    await new Promise((r) => setTimeout(r, 5));
    await driver.write32(0x1000 + 2 * 9 * 4, 1); // SQ 9 does not exist
    const ev = await driver.reap(0);
    expect(ev.cid).toBe(aer);
    expect(ev.dw0 & 7).toBe(0); // error status
    expect((ev.dw0 >>> 8) & 0xff).toBe(0); // invalid doorbell register
    expect((ev.dw0 >>> 16) & 0xff).toBe(1);
    expect(rig.guestErrors.some((e) => e.message.includes('missing queue'))).toBe(true);
    await driver.write32(0x1000 + 2 * 4, 4000); // SQ 1 tail beyond size
    expect(rig.guestErrors.some((e) => e.message.includes('beyond queue size'))).toBe(true);
  });
});
