/**
 * What a device writer does with the public testing API (and nothing else): register a vendor I/O
 * command on the controller, bring the controller up through the harness, submit the command with
 * a data buffer (PRPs, then SGLs) and check the completion and the data.
 */
import { CommandError, type CommandHandler, LogPageId, Status } from '@p2pkit/nvme';
import { type NvmeHarness, prpsFor, sglDataBlock, sglFor, startNvmeHarness } from '@p2pkit/nvme/testing';
import { afterEach, describe, expect, it } from 'vitest';

/** Vendor I/O opcode of a computational-storage command; bits 1:0 = 11b: data moves both ways. */
const XOR_TRANSFORM = 0x83;

/**
 * XORs the host buffer (CDW10 = NUMD, dwords − 1) with the key in CDW12 bits 7:0, in place, and
 * answers the byte sum of the input in DW0. Needs an active namespace.
 */
const xorTransform: CommandHandler = async (ctx) => {
  if (!ctx.namespace) throw new CommandError(Status.InvalidNamespaceOrFormat, `namespace ${ctx.entry.nsid} is not active`);
  const data = await ctx.fromHost((ctx.entry.cdw10 + 1) * 4);
  const key = ctx.entry.cdw12 & 0xff;
  let sum = 0;
  for (let i = 0; i < data.length; i++) {
    sum = (sum + (data[i] as number)) >>> 0;
    data[i] = (data[i] as number) ^ key;
  }
  await ctx.toHost(data);
  return { dw0: sum };
};

function pattern(length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + 7) & 0xff);
}

let harness: NvmeHarness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

describe('@p2pkit/nvme/testing (public API only)', () => {
  it('runs a vendor I/O command with a PRP-described buffer and lists it in the effects log', async () => {
    harness = await startNvmeHarness({ namespaces: [{ sizeBytes: 1 << 20 }] });
    harness.controller.registerIoCommand(XOR_TRANSFORM, xorTransform, { name: 'xor transform' });
    const { driver, memory } = harness;
    await driver.bringUp();

    const length = 3 * 4096 + 512; // four pages: PRP2 is a PRP list
    const buffer = memory.alloc(length);
    const input = pattern(length);
    memory.view(buffer, length).set(input);
    const done = await driver.submit(1, {
      opcode: XOR_TRANSFORM,
      nsid: 1,
      ...prpsFor(memory, buffer, length),
      cdw10: length / 4 - 1,
      cdw12: 0x5a,
    });

    expect(done.status).toBe(Status.Success);
    expect(done.dw0).toBe(input.reduce((a, b) => a + b, 0));
    expect(memory.view(buffer, length)).toEqual(input.map((b) => b ^ 0x5a));

    const effects = await driver.getLogPage(LogPageId.CommandsSupportedAndEffects, 4096);
    expect(effects.completion.status).toBe(Status.Success);
    const ioEffects = new DataView(effects.data.buffer, 1024, 1024); // I/O Command Supported and Effects
    expect(ioEffects.getUint32(XOR_TRANSFORM * 4, true) & 1).toBe(1);
    expect(harness.deviceErrors).toEqual([]);
    expect(harness.guestErrors).toEqual([]);
  });

  it('runs it with an SGL of two data blocks, and reports handler errors as completion statuses', async () => {
    harness = await startNvmeHarness({ mdts: 1 }); // MDTS 8 KiB
    harness.controller.registerIoCommand(XOR_TRANSFORM, xorTransform);
    const { driver, memory } = harness;
    await driver.bringUp();

    const head = memory.alloc(512);
    const tail = memory.alloc(1536);
    const input = pattern(2048);
    memory.view(head, 512).set(input.subarray(0, 512));
    memory.view(tail, 1536).set(input.subarray(512));
    const sgl = sglFor(memory, [sglDataBlock(head, 512), sglDataBlock(tail, 1536)]);
    const done = await driver.submit(1, { opcode: XOR_TRANSFORM, nsid: 1, sgl, cdw10: 2048 / 4 - 1, cdw12: 0xff });
    expect(done.status).toBe(Status.Success);
    expect([...memory.view(head, 512), ...memory.view(tail, 1536)]).toEqual([...input.map((b) => b ^ 0xff)]);

    // The handler's CommandError: its status, with Do Not Retry.
    const inactive = await driver.submit(1, { opcode: XOR_TRANSFORM, nsid: 7, sgl, cdw10: 2048 / 4 - 1 });
    expect(inactive.status).toBe(Status.InvalidNamespaceOrFormat);
    expect(inactive.dnr).toBe(true);
    // The controller's own checks still apply to vendor commands: a transfer beyond MDTS.
    const big = memory.alloc(16384);
    const tooLong = await driver.submit(1, { opcode: XOR_TRANSFORM, nsid: 1, ...prpsFor(memory, big, 16384), cdw10: 16384 / 4 - 1 });
    expect(tooLong.status).toBe(Status.InvalidField);
    expect(harness.deviceErrors).toEqual([]);
  });
});
