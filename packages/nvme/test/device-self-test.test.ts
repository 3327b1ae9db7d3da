import { type NvmeHarness, startNvmeHarness, waitUntil } from '@p2pkit/nvme/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { AdminOpcode, IoOpcode, LogPageId, Reg, SelfTestCode, SelfTestResult, Status } from '../src/index.ts';

let rig: NvmeHarness;
afterEach(async () => rig?.close());

interface SelfTestLog {
  /** Current operation (0: none) and its completion %. */
  operation: number;
  percent: number;
  entries: { code: number; result: number; segment: number; valid: number; nsid: number; flba: bigint; sct: number; sc: number }[];
}

async function selfTestLog(r: NvmeHarness): Promise<SelfTestLog> {
  const { completion, data } = await r.driver.getLogPage(LogPageId.DeviceSelfTest, 564);
  expect(completion.status).toBe(0);
  const v = new DataView(data.buffer);
  const entries: SelfTestLog['entries'] = [];
  for (let i = 0; i < 20; i++) {
    const o = 4 + i * 28;
    if ((v.getUint8(o) & 0xf) === SelfTestResult.Unused) continue;
    entries.push({
      code: v.getUint8(o) >>> 4,
      result: v.getUint8(o) & 0xf,
      segment: v.getUint8(o + 1),
      valid: v.getUint8(o + 2),
      nsid: v.getUint32(o + 12, true),
      flba: v.getBigUint64(o + 16, true),
      sct: v.getUint8(o + 24),
      sc: v.getUint8(o + 25),
    });
  }
  return { operation: v.getUint8(0) & 0xf, percent: v.getUint8(1) & 0x7f, entries };
}

const selfTest = (r: NvmeHarness, stc: number, nsid = 0) => r.driver.admin({ opcode: AdminOpcode.DeviceSelfTest, nsid, cdw10: stc });

async function finished(r: NvmeHarness): Promise<SelfTestLog> {
  await waitUntil(async () => (await selfTestLog(r)).operation === 0, 'the self-test to end', 5000);
  return selfTestLog(r);
}

describe('Device Self-test', () => {
  it('is advertised: OACS bit 4, EDSTT in minutes, one test at a time (DSTO)', async () => {
    rig = await startNvmeHarness({ deviceSelfTest: { extendedMs: 150_000 } });
    await rig.driver.bringUp();
    const v = new DataView((await rig.driver.identify(1)).data.buffer);
    expect(v.getUint16(256, true) & (1 << 4)).toBe(1 << 4);
    expect(v.getUint16(316, true)).toBe(3); // 150 s → 3 minutes
    expect(v.getUint8(318) & 1).toBe(1);
    const empty = await selfTestLog(rig);
    expect(empty).toEqual({ operation: 0, percent: 0, entries: [] });
  });

  it('runs a short test over its duration, reports progress, then the result newest first', async () => {
    rig = await startNvmeHarness({ deviceSelfTest: { shortMs: 300, extendedMs: 600 } });
    await rig.driver.bringUp();
    expect((await selfTest(rig, SelfTestCode.Short)).status).toBe(0);
    const running = await selfTestLog(rig);
    expect(running.operation).toBe(SelfTestCode.Short);
    expect(running.percent).toBeLessThan(100);
    expect(running.entries).toEqual([]);
    // A second start while one runs: Device Self-test In Progress.
    expect((await selfTest(rig, SelfTestCode.Extended)).status).toBe(Status.DeviceSelfTestInProgress);
    const done = await finished(rig);
    expect(done.entries).toHaveLength(1);
    expect(done.entries[0]).toMatchObject({ code: SelfTestCode.Short, result: SelfTestResult.NoError, valid: 0 });
    expect((await selfTest(rig, SelfTestCode.Extended, 0xffffffff)).status).toBe(0);
    const both = await finished(rig);
    expect(both.entries.map((e) => [e.code, e.result])).toEqual([
      [SelfTestCode.Extended, SelfTestResult.NoError],
      [SelfTestCode.Short, SelfTestResult.NoError],
    ]);
  });

  it('aborts with STC Fh (and a harmless Fh when idle); a controller reset aborts too', async () => {
    rig = await startNvmeHarness({ deviceSelfTest: { shortMs: 60_000, extendedMs: 60_000 } });
    await rig.driver.bringUp();
    expect((await selfTest(rig, SelfTestCode.Abort)).status).toBe(0);
    expect((await selfTestLog(rig)).entries).toEqual([]);
    expect((await selfTest(rig, SelfTestCode.Extended, 1)).status).toBe(0);
    expect((await selfTest(rig, SelfTestCode.Abort)).status).toBe(0);
    const aborted = await selfTestLog(rig);
    expect(aborted.operation).toBe(0);
    expect(aborted.entries[0]).toMatchObject({ code: SelfTestCode.Extended, result: SelfTestResult.AbortedByCommand });
    expect((await selfTest(rig, SelfTestCode.Short)).status).toBe(0);
    await rig.driver.write32(Reg.CC, 0); // Controller Level Reset
    await rig.driver.bringUp();
    const reset = await selfTestLog(rig);
    expect(reset.operation).toBe(0);
    expect(reset.entries[0]).toMatchObject({ code: SelfTestCode.Short, result: SelfTestResult.AbortedByControllerReset });
  });

  it('Format NVM of a tested namespace aborts the test', async () => {
    rig = await startNvmeHarness({ deviceSelfTest: { shortMs: 60_000 } });
    await rig.driver.bringUp();
    expect((await selfTest(rig, SelfTestCode.Short, 1)).status).toBe(0);
    expect((await rig.driver.admin({ opcode: AdminOpcode.FormatNvm, nsid: 1, cdw10: 0 })).status).toBe(0);
    expect((await selfTestLog(rig)).entries[0]).toMatchObject({ result: SelfTestResult.AbortedByFormat });
  });

  it('a tested namespace detached meanwhile: aborted (namespace removed)', async () => {
    rig = await startNvmeHarness({ namespaceManagement: true, deviceSelfTest: { shortMs: 200 } });
    await rig.driver.bringUp();
    expect((await selfTest(rig, SelfTestCode.Short, 1)).status).toBe(0);
    const list = rig.driver.memory.alloc(4096);
    const v = rig.driver.memory.dataView(list, 4);
    v.setUint16(0, 1, true);
    v.setUint16(2, 1, true); // CNTLID 1
    expect((await rig.driver.admin({ opcode: AdminOpcode.NamespaceAttachment, nsid: 1, prp1: list, cdw10: 1 })).status).toBe(0);
    expect((await finished(rig)).entries[0]).toMatchObject({ code: SelfTestCode.Short, result: SelfTestResult.AbortedNamespaceRemoved });
  });

  it('extended test: the media check fails on an uncorrectable block (segment 7, NSID, FLBA, SCT/SC)', async () => {
    rig = await startNvmeHarness({ deviceSelfTest: { shortMs: 100, extendedMs: 200 } });
    await rig.driver.bringUp();
    expect((await rig.driver.submit(1, { opcode: IoOpcode.WriteUncorrectable, nsid: 1, cdw10: 4242, cdw12: 3 })).status).toBe(0);
    // The controller-only test (NSID 0) and the short test do not read the media.
    expect((await selfTest(rig, SelfTestCode.Extended, 0)).status).toBe(0);
    expect((await finished(rig)).entries[0]).toMatchObject({ result: SelfTestResult.NoError });
    expect((await selfTest(rig, SelfTestCode.Short, 1)).status).toBe(0);
    expect((await finished(rig)).entries[0]).toMatchObject({ result: SelfTestResult.NoError });
    expect((await selfTest(rig, SelfTestCode.Extended, 1)).status).toBe(0);
    expect((await finished(rig)).entries[0]).toEqual({
      code: SelfTestCode.Extended,
      result: SelfTestResult.SegmentFailed,
      segment: 7,
      valid: 0xf,
      nsid: 1,
      flba: 4242n,
      sct: 2,
      sc: 0x81,
    });
  });

  it('the SMART check fails while a critical warning is set', async () => {
    rig = await startNvmeHarness({ deviceSelfTest: { shortMs: 100 } });
    await rig.driver.bringUp();
    rig.controller.setTemperature(400); // over WCTEMP: critical warning bit 1
    expect((await selfTest(rig, SelfTestCode.Short)).status).toBe(0);
    expect((await finished(rig)).entries[0]).toMatchObject({ code: SelfTestCode.Short, result: SelfTestResult.SegmentFailed, segment: 2 });
  });

  it('keeps the newest 20 results', async () => {
    rig = await startNvmeHarness({ deviceSelfTest: { shortMs: 60_000, extendedMs: 60_000 } });
    await rig.driver.bringUp();
    for (let i = 0; i < 22; i++) {
      const code = i % 2 === 0 ? SelfTestCode.Short : SelfTestCode.Extended;
      expect((await selfTest(rig, code)).status).toBe(0);
      expect((await selfTest(rig, SelfTestCode.Abort)).status).toBe(0);
    }
    const log = await selfTestLog(rig);
    expect(log.entries).toHaveLength(20);
    // The last one started (i = 21) was extended, the oldest kept (i = 2) short.
    expect(log.entries[0]?.code).toBe(SelfTestCode.Extended);
    expect(log.entries[19]?.code).toBe(SelfTestCode.Short);
  });

  it('refuses bad self-test codes and namespaces', async () => {
    rig = await startNvmeHarness();
    await rig.driver.bringUp();
    for (const stc of [0x0, 0x3, 0xe]) expect((await selfTest(rig, stc)).status).toBe(Status.InvalidField);
    expect((await selfTest(rig, SelfTestCode.Short, 2)).status).toBe(Status.InvalidNamespaceOrFormat);
    expect((await selfTest(rig, SelfTestCode.Short, 0xfffffffe)).status).toBe(Status.InvalidNamespaceOrFormat);
    expect((await selfTestLog(rig)).entries).toEqual([]);
    expect(rig.deviceErrors).toEqual([]);
  });
});
