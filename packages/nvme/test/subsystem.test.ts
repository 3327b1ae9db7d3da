/**
 * An NVM subsystem of two controllers sharing namespaces, each served over vfio-user to its own
 * TS host driver (two paths, one process): Identify, shared data, the ANA log page, path statuses
 * and the ANA change notice.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type NvmeHarness, startNvmeHarness } from '@p2pkit/nvme/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { createNvmeSubsystem, FeatureId, IoOpcode, LogPageId, type NvmeSubsystem, Status } from '../src/index.ts';

const NQN = 'nqn.2019-08.org.p2pkit:test-subsystem';
let dir: string;
let subsystem: NvmeSubsystem | undefined;
let paths: NvmeHarness[] = [];

afterEach(async () => {
  for (const p of paths) await p.close();
  await subsystem?.close();
  await rm(dir, { recursive: true, force: true });
  paths = [];
  subsystem = undefined;
});

/** Namespace 1 in ANA group 1, namespace 2 in group 2; controllers 1 and 2, each with a driver brought up. */
async function twoPaths(): Promise<{ s: NvmeSubsystem; a: NvmeHarness; b: NvmeHarness }> {
  dir = await mkdtemp(join(tmpdir(), 'p2pkit-subsys-'));
  const s = await createNvmeSubsystem({
    nqn: NQN,
    anaGroups: 2,
    namespaces: [
      { path: join(dir, 'ns1.img'), sizeBytes: 8 << 20 },
      { path: join(dir, 'ns2.img'), sizeBytes: 4 << 20, anaGroup: 2 },
    ],
  });
  subsystem = s;
  const a = await startNvmeHarness({ device: await s.controller({ controllerId: 1 }), directory: dir, transport: 'memory' });
  paths.push(a);
  const b = await startNvmeHarness({
    device: await s.controller({ controllerId: 2, anaStates: { 2: 'non-optimized' } }),
    directory: dir,
    transport: 'memory',
  });
  paths.push(b);
  await a.driver.bringUp();
  await b.driver.bringUp();
  return { s, a, b };
}

async function write(h: NvmeHarness, nsid: number, slba: bigint, data: Uint8Array): Promise<number> {
  const buf = h.memory.alloc(data.byteLength);
  h.memory.view(buf, data.byteLength).set(data);
  const blocks = data.byteLength / 512;
  return (await h.driver.readWrite(1, { opcode: IoOpcode.Write, nsid, slba, blocks, buffer: buf, bytes: data.byteLength })).status;
}

async function read(
  h: NvmeHarness,
  nsid: number,
  slba: bigint,
  bytes: number,
): Promise<{ status: number; dnr: boolean; data: Uint8Array }> {
  const buf = h.memory.alloc(bytes);
  const c = await h.driver.readWrite(1, { opcode: IoOpcode.Read, nsid, slba, blocks: bytes / 512, buffer: buf, bytes });
  return { status: c.status, dnr: c.dnr, data: h.memory.view(buf, bytes).slice() };
}

/** The ANA log page decoded: header change count, then each group's id, state, change count and NSIDs. */
async function anaLog(h: NvmeHarness, options: { groupsOnly?: boolean; retainAsyncEvent?: boolean } = {}) {
  const { completion, data } = await h.driver.getLogPage(LogPageId.AsymmetricNamespaceAccess, 4096, {
    logSpecific: options.groupsOnly ? 1 : 0,
    retainAsyncEvent: options.retainAsyncEvent ?? false,
  });
  expect(completion.status).toBe(Status.Success);
  const v = new DataView(data.buffer);
  const groups: { id: number; state: number; changeCount: bigint; nsids: number[] }[] = [];
  let at = 16;
  for (let i = 0; i < v.getUint16(8, true); i++) {
    const n = v.getUint32(at + 4, true);
    const nsids = Array.from({ length: n }, (_, k) => v.getUint32(at + 32 + k * 4, true));
    groups.push({ id: v.getUint32(at, true), state: v.getUint8(at + 16), changeCount: v.getBigUint64(at + 8, true), nsids });
    at += 32 + n * 4;
  }
  return { changeCount: v.getBigUint64(0, true), groups };
}

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes).replace(/[\0 ]+$/, '');

describe('NVM subsystem with ANA', () => {
  it('controllers share SUBNQN and SN, differ in CNTLID, and advertise multi-controller + ANA in Identify', async () => {
    const { s, a, b } = await twoPaths();
    const ids = [];
    for (const h of [a, b]) {
      const { completion, data } = await h.driver.identify(1);
      expect(completion.status).toBe(Status.Success);
      const v = new DataView(data.buffer);
      ids.push({
        sn: text(data.subarray(4, 24)),
        cntlid: v.getUint16(78, true),
        cmic: data[76],
        ana: (v.getUint32(92, true) >>> 11) & 1,
        anatt: data[342],
        anacap: data[343],
        anagrpmax: v.getUint32(344, true),
        nanagrpid: v.getUint32(348, true),
        subnqn: text(data.subarray(768, 1024)),
      });
    }
    const common = { sn: s.serial, cmic: 0x0b, ana: 1, anatt: 10, anacap: 0x5f, anagrpmax: 2, nanagrpid: 2, subnqn: NQN };
    expect(ids).toEqual([
      { ...common, cntlid: 1 },
      { ...common, cntlid: 2 },
    ]);
  });

  it('a namespace is shared (NMIC), in its ANA group, with the same NGUID and EUI64 on both controllers', async () => {
    const { a, b } = await twoPaths();
    for (const nsid of [1, 2]) {
      const [na, nb] = [(await a.driver.identify(0, nsid)).data, (await b.driver.identify(0, nsid)).data];
      expect(na[30]).toBe(1); // NMIC bit 0
      expect(new DataView(na.buffer).getUint32(92, true)).toBe(nsid); // ANAGRPID: ns1 in group 1, ns2 in group 2
      expect(na.subarray(104, 128)).toEqual(nb.subarray(104, 128)); // NGUID + EUI64
      expect(na.subarray(104, 128).some((x) => x !== 0)).toBe(true);
      const [da, db] = [(await a.driver.identify(3, nsid)).data, (await b.driver.identify(3, nsid)).data];
      expect(da).toEqual(db);
      expect([da[0], da[1], da[12], da[13], da[32]]).toEqual([1, 8, 2, 16, 4]); // EUI64, NGUID, CSI descriptors
    }
  });

  it('one image, opened once: a write through one controller is read back through the other', async () => {
    const { a, b } = await twoPaths();
    const data = Uint8Array.from({ length: 8192 }, (_, i) => (i * 7 + 3) & 0xff);
    expect(await write(a, 1, 100n, data)).toBe(Status.Success);
    const back = await read(b, 1, 100n, 8192);
    expect(back.status).toBe(Status.Success);
    expect(back.data).toEqual(data);
    expect(await write(b, 2, 0n, data.subarray(0, 512))).toBe(Status.Success);
    expect((await read(a, 2, 0n, 512)).data).toEqual(data.subarray(0, 512));
  });

  it('ANA log page: per-controller states, change counts, NSIDs, and RGO (groups only)', async () => {
    const { s, a, b } = await twoPaths();
    expect(await anaLog(a)).toEqual({
      changeCount: 0n,
      groups: [
        { id: 1, state: 0x01, changeCount: 0n, nsids: [1] },
        { id: 2, state: 0x01, changeCount: 0n, nsids: [2] },
      ],
    });
    expect((await anaLog(b)).groups.map((g) => g.state)).toEqual([0x01, 0x02]);
    s.setAnaState(1, 1, 'inaccessible');
    s.setAnaState(1, 2, 'change');
    s.setAnaState(1, 2, 'persistent-loss');
    s.setAnaState(1, 2, 'persistent-loss'); // no change: no count
    expect(await anaLog(a)).toEqual({
      changeCount: 3n,
      groups: [
        { id: 1, state: 0x03, changeCount: 1n, nsids: [1] },
        { id: 2, state: 0x04, changeCount: 2n, nsids: [2] },
      ],
    });
    expect(await anaLog(a, { groupsOnly: true })).toEqual({
      changeCount: 3n,
      groups: [
        { id: 1, state: 0x03, changeCount: 1n, nsids: [] },
        { id: 2, state: 0x04, changeCount: 2n, nsids: [] },
      ],
    });
    expect((await anaLog(b)).changeCount).toBe(0n); // the other path did not change
    expect(s.anaState(1, 2)).toBe('persistent-loss');
    // Log 0Ch is listed in Supported Log Pages.
    const supported = await a.driver.getLogPage(LogPageId.SupportedLogPages, 1024);
    expect(new DataView(supported.data.buffer).getUint32(0x0c * 4, true) & 1).toBe(1);
  });

  it('I/O through an inaccessible, lost or changing path fails with the path status (DNR clear); the other path serves it', async () => {
    const { s, a, b } = await twoPaths();
    const data = new Uint8Array(512).fill(0x5a);
    const cases = [
      ['inaccessible', Status.AsymmetricAccessInaccessible],
      ['persistent-loss', Status.AsymmetricAccessPersistentLoss],
      ['change', Status.AsymmetricAccessTransition],
    ] as const;
    for (const [state, status] of cases) {
      s.setAnaState(1, 1, state);
      expect(await write(a, 1, 7n, data)).toBe(status);
      const r = await read(a, 1, 7n, 512);
      expect([r.status, r.dnr]).toEqual([status, false]);
      expect((await a.driver.submit(1, { opcode: IoOpcode.Flush, nsid: 1 })).status).toBe(status);
      // Group 2 on the same controller, and group 1 on the other controller, are unaffected.
      expect(await write(a, 2, 7n, data)).toBe(Status.Success);
      expect(await write(b, 1, 7n, data)).toBe(Status.Success);
      // Admin commands about the namespace still work on the failed path.
      expect((await a.driver.identify(0, 1)).completion.status).toBe(Status.Success);
    }
    s.setAnaState(1, 1, 'non-optimized');
    const back = await read(a, 1, 7n, 512);
    expect([back.status, back.data]).toEqual([Status.Success, data]);
    // Path errors are not device bugs nor the host's mistakes.
    expect([...a.deviceErrors, ...a.guestErrors.map((e) => e.message)]).toEqual([]);
  });

  it('sends the ANA change notice when Feature 0Bh bit 11 enables it, masked until log 0Ch is read without RAE', async () => {
    const { s, a, b } = await twoPaths();
    const aer = () => a.driver.enqueue(0, { opcode: 0x0c });
    aer();
    aer();
    await a.driver.ringSqTail(0);
    // Not enabled yet: no event.
    s.setAnaState(1, 1, 'inaccessible');
    await a.driver.identify(1);
    expect(a.driver.unclaimedCompletions).toHaveLength(0);
    expect((await a.driver.setFeatures(FeatureId.AsyncEventConfig, 1 << 11)).status).toBe(Status.Success);
    expect((await a.driver.getFeatures(FeatureId.AsyncEventConfig)).dw0).toBe(1 << 11);
    s.setAnaState(1, 1, 'optimized');
    await a.driver.identify(1);
    expect(a.driver.unclaimedCompletions.map((c) => c.dw0)).toEqual([2 | (0x03 << 8) | (0x0c << 16)]);
    // Masked: a second change waits until the host reads the log without RAE.
    s.setAnaState(1, 2, 'inaccessible');
    await a.driver.identify(1);
    expect(a.driver.unclaimedCompletions).toHaveLength(1);
    await anaLog(a, { retainAsyncEvent: true });
    expect(a.driver.unclaimedCompletions).toHaveLength(1);
    await anaLog(a);
    await a.driver.identify(1);
    expect(a.driver.unclaimedCompletions).toHaveLength(2);
    // Only the controller whose path changed reports it.
    expect(b.controller.stats.asyncEventsCompleted).toBe(0);
  });

  it('refuses bad topologies and unknown states with RangeError; images close with the last controller', async () => {
    const { s } = await twoPaths();
    await expect(s.controller({ controllerId: 2 })).rejects.toThrow(/controllerId 2 is taken/);
    await expect(s.controller({ controllerId: 3, attach: [9] })).rejects.toThrow(/no namespace 9/);
    await expect(s.controller({ controllerId: 3, anaStates: { 3: 'optimized' } })).rejects.toThrow(/no ANA group 3/);
    expect(() => s.setAnaState(7, 1, 'optimized')).toThrow(/no controller 7/);
    expect(() => s.setAnaState(1, 1, 'sideways' as 'optimized')).toThrow(/unknown ANA state/);
    await expect(
      createNvmeSubsystem({ nqn: NQN, anaGroups: 1, namespaces: [{ path: join(dir, 'x.img'), sizeBytes: 1 << 20, anaGroup: 2 }] }),
    ).rejects.toThrow(/anaGroup 2/);
    for (const p of paths) await p.close();
    paths = [];
    await expect(s.controller({ controllerId: 3 })).rejects.toThrow(/closed/);
  });

  it('without ANA (anaGroups: 0): multi-controller CMIC only, no log 0Ch, I/O never refused', async () => {
    dir = await mkdtemp(join(tmpdir(), 'p2pkit-subsys-'));
    subsystem = await createNvmeSubsystem({ nqn: NQN, anaGroups: 0, namespaces: [{ path: join(dir, 'ns1.img'), sizeBytes: 1 << 20 }] });
    const h = await startNvmeHarness({ device: await subsystem.controller({ controllerId: 5 }), directory: dir, transport: 'memory' });
    paths.push(h);
    await h.driver.bringUp();
    const id = (await h.driver.identify(1)).data;
    expect([id[76], id[343], new DataView(id.buffer).getUint32(92, true) >>> 11]).toEqual([0x03, 0, 0]);
    expect((await h.driver.identify(0, 1)).data[30]).toBe(1);
    expect((await h.driver.getLogPage(LogPageId.AsymmetricNamespaceAccess, 64)).completion.status).toBe(Status.InvalidLogPage);
    expect(await write(h, 1, 0n, new Uint8Array(512))).toBe(Status.Success);
  });
});
