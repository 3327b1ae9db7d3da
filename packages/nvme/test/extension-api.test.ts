/**
 * The device writer's API of @p2pkit/nvme: registration rules (taken opcodes, data-direction bits),
 * what a command context reaches (bus memory, own CMB/PMR, the Read/Write range checks), and the
 * createNvme extension points (Identify vendor-specific bytes, extra BARs and capabilities).
 */
import { type NvmeHarness, prpsFor, startNvmeHarness } from '@p2pkit/nvme/testing';
import { mmio, vendorSpecific } from '@p2pkit/pci';
import { RegionIndex } from '@p2pkit/vfio-user';
import { afterEach, describe, expect, it } from 'vitest';
import { Cns, createNvme, dataDirection, IoOpcode, Reg, Status } from '../src/index.ts';

let h: NvmeHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('registration', () => {
  it('refuses a taken opcode or log page unless replace is set, and direction bits that disagree', async () => {
    h = await startNvmeHarness();
    const { controller, driver, memory } = h;
    expect(() => controller.registerIoCommand(IoOpcode.Read, () => ({}))).toThrow(/already registered \(Read\).*replace: true/);
    expect(() => controller.registerAdminCommand(0x06, () => ({}))).toThrow(/admin opcode 0x6 is already registered/);
    expect(() => controller.registerLogPage(0x02, () => new Uint8Array(512))).toThrow(/replace: true/);
    expect(() => controller.registerIoCommand(0x81, () => ({}), { data: 'toHost' })).toThrow(/bits 1:0 say 'toController'.*e\.g\. 0x82/);
    expect(() => controller.registerIoCommand(0x100, () => ({}))).toThrow(RangeError);
    controller.registerIoCommand(0x82, () => ({ dw0: 1 }), { data: 'toHost' });
    expect(() => controller.registerIoCommand(0x82, () => ({ dw0: 2 }))).toThrow(/already registered/);
    controller.registerIoCommand(0x82, () => ({ dw0: 2 }), { replace: true });
    expect([dataDirection(0x80), dataDirection(0x81), dataDirection(0x82), dataDirection(0x83)]).toEqual([
      'none',
      'toController',
      'toHost',
      'bidirectional',
    ]);

    // A replaced built-in: Read answers from a pattern instead of the namespace.
    controller.registerIoCommand(
      IoOpcode.Read,
      async (ctx) => {
        const { bytes } = ctx.requireTransferRange();
        await ctx.toHost(new Uint8Array(bytes).fill(0xab));
        return {};
      },
      { name: 'patterned read', replace: true },
    );
    await driver.bringUp();
    expect((await driver.submit(1, { opcode: 0x82, nsid: 1 })).dw0).toBe(2);
    const buf = memory.alloc(4096);
    const read = await driver.readWrite(1, { opcode: IoOpcode.Read, nsid: 1, slba: 0n, blocks: 2, buffer: buf, bytes: 1024 });
    expect(read.status).toBe(Status.Success);
    expect(memory.view(buf, 1024).every((b) => b === 0xab)).toBe(true);
    expect(h.deviceErrors).toEqual([]);
  });

  it('a handler moving data against its opcode bits is a device bug: Internal Error, nothing transferred', async () => {
    h = await startNvmeHarness();
    const { controller, driver, memory } = h;
    controller.registerIoCommand(0x81, async (ctx) => {
      await ctx.toHost(new Uint8Array(512).fill(1)); // 0x81 is host → controller
      return {};
    });
    await driver.bringUp();
    const buf = memory.alloc(4096);
    const done = await driver.submit(1, { opcode: 0x81, nsid: 1, ...prpsFor(memory, buf, 512) });
    expect(done.status).toBe(Status.InternalError);
    expect(memory.view(buf, 512).every((b) => b === 0)).toBe(true);
    expect(h.deviceErrors.join('\n')).toMatch(/opcode 0x81 \(bits 1:0 = 01b\) does not move data to the host/);
  });
});

describe('command context', () => {
  it('reaches host memory and its own CMB and PMR through ctx.bus, and their bytes as ctx.cmb / ctx.pmr', async () => {
    h = await startNvmeHarness({ cmb: { size: 2 << 20 }, pmr: { size: 1 << 20 } });
    const { controller, driver, memory } = h;
    // Vendor 0x80 (no data pointer): copy CDW12 bytes from bus address CDW10–11 to bus address CDW14–15.
    controller.registerIoCommand(0x80, async (ctx) => {
      const e = ctx.entry;
      const data = await ctx.bus.read(e.qw10, e.cdw12);
      await ctx.bus.write((BigInt(e.cdw15) << 32n) | BigInt(e.cdw14), data);
      return { dw0: ctx.cmb?.length ?? 0, dw1: ctx.pmr?.length ?? 0 };
    });
    await h.configWrite32(0x18, 0xc000_0000); // BAR2 (CMB), 64-bit
    await h.configWrite32(0x1c, 0);
    await h.configWrite32(0x20, 0xd000_0000); // BAR4 (PMR)
    await h.configWrite32(0x24, 0);
    await driver.bringUp();
    await driver.write32(Reg.PMRCTL, 1);
    const cmb = await h.mapBar(2);
    const pmr = await h.mapBar(4);
    const buf = memory.alloc(4096);
    memory.view(buf, 100).fill(7);
    const copy = (src: bigint, dst: bigint, n: number) =>
      driver.submit(1, {
        opcode: 0x80,
        nsid: 1,
        cdw10: Number(src & 0xffff_ffffn),
        cdw11: Number(src >> 32n),
        cdw12: n,
        cdw14: Number(dst),
        cdw15: 0,
      });
    const first = await copy(buf, 0xc000_1000n, 100); // RAM → CMB
    expect([first.status, first.dw0, first.dw1]).toEqual([Status.Success, 2 << 20, 1 << 20]);
    expect(cmb.subarray(0x1000, 0x1064).every((b) => b === 7)).toBe(true);
    expect((await copy(0xc000_1000n, 0xd000_0200n, 100)).status).toBe(Status.Success); // CMB → PMR, both local
    expect(pmr.subarray(0x200, 0x264).every((b) => b === 7)).toBe(true);
    expect((await copy(0x9000_0000n, 0xc000_0000n, 16)).status).toBe(Status.DataTransferError); // nothing mapped there
    expect(h.deviceErrors).toEqual([]);
  });

  it('requireTransferRange applies the Read/Write checks: namespace, MDTS, LBA range', async () => {
    h = await startNvmeHarness({ mdts: 1, namespaces: [{ sizeBytes: 1 << 20 }] }); // 2048 blocks, MDTS 8 KiB
    const { controller, driver } = h;
    controller.registerIoCommand(0x84, (ctx) => {
      const r = ctx.requireTransferRange();
      return { dw0: r.nlb, dw1: r.bytes + Number(r.slba) + r.namespace.nsid };
    });
    await driver.bringUp();
    const run = (nsid: number, slba: number, nlb: number) => driver.submit(1, { opcode: 0x84, nsid, cdw10: slba, cdw12: nlb - 1 });
    const ok = await run(1, 100, 16);
    expect([ok.status, ok.dw0, ok.dw1]).toEqual([Status.Success, 16, 8192 + 100 + 1]);
    expect((await run(2, 0, 1)).status).toBe(Status.InvalidNamespaceOrFormat);
    expect((await run(1, 0, 17)).status).toBe(Status.InvalidField); // 8.5 KiB > MDTS
    expect((await run(1, 2040, 16)).status).toBe(Status.LbaOutOfRange);
  });
});

describe('createNvme extension points', () => {
  it('puts vendor bytes at Identify Controller 3072, adds a vendor capability and an extra BAR', async () => {
    const scratch = new Map<number, bigint>();
    h = await startNvmeHarness({
      identifyVendorSpecific: new TextEncoder().encode('NOLOAD v1'),
      capabilities: [vendorSpecific(Uint8Array.of(0x50, 0x32, 0x4b, 0x01))],
      bars: { 2: mmio({ size: 4096, read: (off) => scratch.get(off) ?? 0n, write: (off, _size, value) => void scratch.set(off, value) }) },
    });
    const { driver, memory } = h;
    await driver.bringUp();
    const buf = memory.alloc(4096);
    expect((await driver.admin({ opcode: 0x06, cdw10: Cns.Controller, ...prpsFor(memory, buf, 4096) })).status).toBe(Status.Success);
    expect(new TextDecoder().decode(memory.view(buf + 3072n, 9))).toBe('NOLOAD v1');
    expect(memory.view(buf + 3081n, 1024 - 9).every((b) => b === 0)).toBe(true);

    const config = await h.client.regionRead(RegionIndex.CONFIG, 0, 256);
    const caps: number[] = [];
    for (let at = config[0x34] as number; at; at = config[at + 1] as number) caps.push(at);
    const vendor = caps.find((at) => config[at] === 0x09) as number;
    expect([...config.subarray(vendor + 2, vendor + 7)]).toEqual([7, 0x50, 0x32, 0x4b, 0x01]);

    await h.client.write32(RegionIndex.BAR2, 0x10, 0x1234_5678);
    expect(await h.client.read32(RegionIndex.BAR2, 0x10)).toBe(0x1234_5678);
  });

  it('refuses an extra BAR where the controller has its own, and oversized vendor bytes', async () => {
    const bars = { 2: mmio({ size: 4096 }) };
    await expect(createNvme({ serial: 'X', cmb: { size: 2 << 20 }, bars })).rejects.toThrow(/BAR2 belongs to the controller/);
    await expect(createNvme({ serial: 'X', bars: { 0: mmio({ size: 4096 }) } })).rejects.toThrow(/BAR0 belongs/);
    await expect(createNvme({ serial: 'X', identifyVendorSpecific: new Uint8Array(1025) })).rejects.toThrow(/at most 1024/);
  });
});
