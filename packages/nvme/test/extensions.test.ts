import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type NvmeHarness, startNvmeHarness } from '@p2pkit/nvme/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { CommandError, Deferred, Effects, IoOpcode, openPmrFile, Reg, Status } from '../src/index.ts';

let rig: NvmeHarness;
afterEach(async () => rig?.close());

describe('extension API', () => {
  it('registers vendor admin/IO commands and log pages, listed in the effects log', async () => {
    rig = await startNvmeHarness();
    const { driver, controller } = rig;
    controller.registerAdminCommand(
      0xc2, // bits 1:0 = 10b: data to the host
      async (ctx) => {
        await ctx.toHost(new TextEncoder().encode('vendor!'));
        return { dw0: 0x1234 };
      },
    );
    controller.registerIoCommand(
      0x81,
      (ctx) => {
        if (!ctx.namespace) throw new CommandError(Status.InvalidNamespaceOrFormat, 'no ns');
        return { dw0: ctx.namespace.nsid, dw1: ctx.entry.cdw10 };
      },
      { effects: Effects.LbaContentChange },
    );
    controller.registerLogPage(0xc0, () => new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]));
    await rig.driver.bringUp();
    const buf = driver.memory.alloc(4096);
    const a = await driver.admin({ opcode: 0xc2, prp1: buf });
    expect(a.dw0).toBe(0x1234);
    expect(new TextDecoder().decode(driver.memory.view(buf, 7))).toBe('vendor!');
    const io = await driver.submit(1, { opcode: 0x81, nsid: 1, cdw10: 77 });
    expect([io.dw0, io.dw1]).toEqual([1, 77]);
    expect((await driver.submit(1, { opcode: 0x81, nsid: 3 })).status).toBe(Status.InvalidNamespaceOrFormat);
    const log = await driver.getLogPage(0xc0, 8);
    expect([...log.data]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const fx = await driver.getLogPage(5, 4096);
    const v = new DataView(fx.data.buffer);
    expect(v.getUint32(0xc2 * 4, true)).toBe(1);
    expect(v.getUint32(1024 + 0x81 * 4, true)).toBe(3);
  });

  it('intercepts commands for fault injection and tracing; removal restores behaviour', async () => {
    rig = await startNvmeHarness();
    const { driver, controller } = rig;
    await rig.driver.bringUp();
    const seen: number[] = [];
    const removeTrace = controller.intercept(async (ctx, next) => {
      seen.push(ctx.entry.opcode);
      return next();
    });
    const removeFault = controller.intercept((ctx, next) =>
      ctx.queue === 'io' && ctx.entry.opcode === 1 ? { status: Status.WriteFault } : next(),
    );
    const buf = driver.memory.alloc(4096);
    expect((await driver.readWrite(1, { opcode: IoOpcode.Write, nsid: 1, slba: 0n, blocks: 1, buffer: buf, bytes: 512 })).status).toBe(
      Status.WriteFault,
    );
    expect((await driver.readWrite(1, { opcode: IoOpcode.Read, nsid: 1, slba: 0n, blocks: 1, buffer: buf, bytes: 512 })).status).toBe(0);
    removeFault();
    expect((await driver.readWrite(1, { opcode: IoOpcode.Write, nsid: 1, slba: 0n, blocks: 1, buffer: buf, bytes: 512 })).status).toBe(0);
    removeTrace();
    expect(seen).toEqual([1, 2, 1]);
    // A throwing hook becomes Internal Error, not a crash.
    const removeBoom = controller.intercept(() => {
      throw new Error('boom');
    });
    expect((await driver.readWrite(1, { opcode: IoOpcode.Read, nsid: 1, slba: 0n, blocks: 1, buffer: buf, bytes: 512 })).status).toBe(
      Status.InternalError,
    );
    removeBoom();
    expect(rig.deviceErrors.some((m) => m.includes('boom'))).toBe(true);
  });

  it('supports deferred vendor commands completed later', async () => {
    rig = await startNvmeHarness();
    const { driver, controller } = rig;
    controller.registerAdminCommand(0xc5, (ctx) => {
      setTimeout(() => ctx.complete({ dw0: 99 }), 5);
      return Deferred;
    });
    await rig.driver.bringUp();
    expect((await driver.admin({ opcode: 0xc5 })).dw0).toBe(99);
  });
});

describe('PMR backed by a file', () => {
  it('flushes on PMRCTL.EN 1→0 and reloads', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'p2pkit-pmr-'));
    try {
      const path = join(dir, 'pmr.bin');
      rig = await startNvmeHarness({ pmr: { path, size: 1 << 20 } });
      const { driver } = rig;
      const bar4 = await rig.mapBar(4);
      await driver.write32(Reg.PMRCTL, 1);
      bar4.set([9, 8, 7], 4096); // guest stores through the BAR mapping
      await driver.write32(Reg.PMRCTL, 0);
      await new Promise((r) => setTimeout(r, 20));
      expect([...(await readFile(path)).subarray(4096, 4099)]).toEqual([9, 8, 7]);
      await rig.close(); // flushes the PMR again, then the backing file may close
      rig = undefined as unknown as NvmeHarness;
      const again = await openPmrFile(path, 1 << 20);
      expect([...again.memory.subarray(4096, 4099)]).toEqual([9, 8, 7]);
      await again.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('serves data transfers that target the PMR locally', async () => {
    rig = await startNvmeHarness({ pmr: { size: 1 << 20 } });
    const { driver, controller } = rig;
    const pmr = await rig.mapBar(4);
    await rig.driver.bringUp();
    // The guest programs BAR4 (64-bit: low dword at 20h, high at 24h) in config space.
    await rig.configWrite32(0x24, 0);
    await rig.configWrite32(0x20, 0xe000_0000);
    expect(rig.nvme.endpoint.barAddress(4)).toBe(0xe000_0000n);
    await driver.write32(Reg.PMRCTL, 1);
    expect(controller.pmr?.busAddress).toBe(0xe000_0000n); // decodes once enabled
    const buf = driver.memory.alloc(4096);
    driver.memory.view(buf, 512).fill(0x3c);
    await driver.readWrite(1, { opcode: IoOpcode.Write, nsid: 1, slba: 2n, blocks: 1, buffer: buf, bytes: 512 });
    expect((await driver.submit(1, { opcode: 2, nsid: 1, prp1: 0xe000_1000n, cdw10: 2, cdw12: 0 })).status).toBe(0);
    expect([...pmr.subarray(0x1000, 0x1200)].every((b) => b === 0x3c)).toBe(true);
  });
});
