import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type NvmeHarness, type NvmeHarnessOptions, prpsFor, startNvmeHarness } from '@p2pkit/nvme/testing';
import { afterEach, describe, expect, it } from 'vitest';
import {
  AdminOpcode,
  Effects,
  IoOpcode,
  NativeHolePuncher,
  Reg,
  Status,
  type ZonedNamespaceOptions,
  ZoneSendAction,
  ZoneState,
} from '../src/index.ts';

let rig: NvmeHarness | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

/** 8 MiB of 512-byte blocks in 1 MiB zones: 8 zones of 2048 LBAs. */
const ZONE = 2048;

async function zonedRig(zoned: ZonedNamespaceOptions = { zoneSizeBytes: 1 << 20 }, extra: NvmeHarnessOptions = {}): Promise<NvmeHarness> {
  rig = await startNvmeHarness({ namespaces: [{ sizeBytes: 8 << 20, zoned }], ...extra });
  await rig.driver.bringUp();
  return rig;
}

async function write(r: NvmeHarness, slba: number, nlb: number, byte: number) {
  const bytes = nlb * 512;
  const buf = r.driver.memory.alloc(bytes);
  r.driver.memory.view(buf, bytes).fill(byte);
  return r.driver.readWrite(1, { opcode: IoOpcode.Write, nsid: 1, slba: BigInt(slba), blocks: nlb, buffer: buf, bytes });
}

async function read(r: NvmeHarness, slba: number, nlb: number) {
  const bytes = nlb * 512;
  const buf = r.driver.memory.alloc(bytes);
  const done = await r.driver.readWrite(1, { opcode: IoOpcode.Read, nsid: 1, slba: BigInt(slba), blocks: nlb, buffer: buf, bytes });
  return { status: done.status, data: r.driver.memory.view(buf, bytes).slice() };
}

async function append(r: NvmeHarness, zslba: number, nlb: number, byte: number, cdw12Flags = 0) {
  const bytes = nlb * 512;
  const buf = r.driver.memory.alloc(bytes);
  r.driver.memory.view(buf, bytes).fill(byte);
  const done = await r.driver.readWrite(1, {
    opcode: IoOpcode.Write,
    nsid: 1,
    slba: BigInt(zslba),
    blocks: nlb,
    buffer: buf,
    bytes,
    command: { opcode: IoOpcode.ZoneAppend, cdw12: (nlb - 1) | cdw12Flags },
  });
  return { status: done.status, lba: done.dw0 + done.dw1 * 2 ** 32 };
}

function send(r: NvmeHarness, slba: number, action: number, selectAll = false) {
  return r.driver.submit(1, {
    opcode: IoOpcode.ZoneManagementSend,
    nsid: 1,
    cdw10: slba,
    cdw11: 0,
    cdw13: action | (selectAll ? 1 << 8 : 0),
  });
}

interface Reported {
  status: number;
  count: bigint;
  zones: { type: number; state: number; zcap: bigint; zslba: bigint; wp: bigint }[];
}

async function report(r: NvmeHarness, slba: number, opts: { filter?: number; partial?: boolean; bytes?: number; action?: number } = {}) {
  const bytes = opts.bytes ?? 4096;
  const buf = r.driver.memory.alloc(bytes);
  r.driver.memory.view(buf, bytes).fill(0xa5);
  const done = await r.driver.submit(1, {
    opcode: IoOpcode.ZoneManagementReceive,
    nsid: 1,
    ...prpsFor(r.driver.memory, buf, bytes),
    cdw10: slba,
    cdw12: bytes / 4 - 1,
    cdw13: (opts.action ?? 0) | ((opts.filter ?? 0) << 8) | ((opts.partial ?? true) ? 1 << 16 : 0),
  });
  const v = r.driver.memory.dataView(buf, bytes);
  const out: Reported = { status: done.status, count: v.getBigUint64(0, true), zones: [] };
  const listed = Math.min(Number(out.count), Math.floor(bytes / 64) - 1);
  for (let i = 1; i <= listed; i++) {
    out.zones.push({
      type: v.getUint8(i * 64),
      state: v.getUint8(i * 64 + 1) >> 4,
      zcap: v.getBigUint64(i * 64 + 8, true),
      zslba: v.getBigUint64(i * 64 + 16, true),
      wp: v.getBigUint64(i * 64 + 24, true),
    });
  }
  return out;
}

async function zoneState(r: NvmeHarness, z: number) {
  const rep = await report(r, z * ZONE, { bytes: 128 });
  expect(rep.status).toBe(Status.Success);
  return rep.zones[0]!;
}

describe('Zoned Namespace command set: identify and capabilities', () => {
  it('advertises CAP.CSS bit 6, enables with CC.CSS = 110b and reports the zoned namespace and controller', async () => {
    const r = await zonedRig(
      { zoneSizeBytes: 1 << 20, zoneCapacityBytes: 768 << 10, maxActiveZones: 4, maxOpenZones: 2 },
      { zoneAppendSizeLimitBytes: 64 << 10 },
    );
    const cap = await r.driver.read64(Reg.CAP);
    expect((cap >> 37n) & 0xffn).toBe(0x41n); // NVM + I/O command sets
    expect(((await r.driver.read(Reg.CC, 4)) >> 4n) & 7n).toBe(6n);

    // Namespace Identification Descriptors: NIDT, NIDL, 2 reserved, NIDL bytes; the CSI one (04h) says ZNS.
    const descs = (await r.driver.identify(0x03, 1)).data;
    let csi: number | undefined;
    for (let at = 0; descs[at] !== 0 && at < 4096; at += 4 + descs[at + 1]!) if (descs[at] === 0x4) csi = descs[at + 4];
    expect(csi).toBe(0x2);

    const ns = await r.driver.identify(0x05, 1, 2 << 24);
    const v = new DataView(ns.data.buffer);
    expect(ns.completion.status).toBe(Status.Success);
    expect(v.getUint16(0, true)).toBe(0); // ZOC
    expect(v.getUint16(2, true)).toBe(1); // OZCS.RAZB
    expect(v.getUint32(4, true)).toBe(3); // MAR
    expect(v.getUint32(8, true)).toBe(1); // MOR
    expect(v.getBigUint64(2816, true)).toBe(2048n); // ZSZE, 512-byte format
    expect(v.getBigUint64(2832, true)).toBe(256n); // ZSZE, 4 KiB format

    const ctrl = await r.driver.identify(0x06, 0, 2 << 24);
    expect(ctrl.data[0]).toBe(4); // ZASL: 2^4 × 4 KiB = 64 KiB

    const sets = await r.driver.identify(0x1c);
    expect(sets.data[0]).toBe(0x5); // NVM + ZNS
    const zonedIds = await r.driver.identify(0x07, 0, 2 << 24);
    expect(new DataView(zonedIds.data.buffer).getUint32(0, true)).toBe(1);
    const nvmIds = await r.driver.identify(0x07, 0, 0);
    expect(new DataView(nvmIds.data.buffer).getUint32(0, true)).toBe(0);
    expect((await r.driver.identify(0x05, 1, 3 << 24)).completion.status).toBe(Status.InvalidField);
  });

  it('lists the zone commands in the CSI 02h effects log only', async () => {
    const r = await zonedRig();
    const effects = async (csi: number) => {
      const buf = r.driver.memory.alloc(4096);
      const done = await r.driver.admin({
        opcode: AdminOpcode.GetLogPage,
        nsid: 0xffffffff,
        ...prpsFor(r.driver.memory, buf, 4096),
        cdw10: 0x05 | (1023 << 16),
        cdw14: csi << 24,
      });
      expect(done.status).toBe(Status.Success);
      return r.driver.memory.dataView(buf, 4096);
    };
    const zns = await effects(2);
    const nvm = await effects(0);
    for (const op of [IoOpcode.ZoneManagementSend, IoOpcode.ZoneManagementReceive, IoOpcode.ZoneAppend]) {
      expect(zns.getUint32(1024 + op * 4, true) & Effects.Supported).toBe(Effects.Supported);
      expect(nvm.getUint32(1024 + op * 4, true)).toBe(0);
    }
    expect(zns.getUint32(1024 + IoOpcode.ZoneAppend * 4, true) & Effects.LbaContentChange).toBe(Effects.LbaContentChange);
    expect(zns.getUint32(1024 + IoOpcode.Write * 4, true) & Effects.Supported).toBe(Effects.Supported);
  });

  it('a controller without zoned namespaces offers none of it', async () => {
    rig = await startNvmeHarness();
    await rig.driver.bringUp();
    expect(((await rig.driver.read64(Reg.CAP)) >> 43n) & 1n).toBe(0n);
    expect((await rig.driver.identify(0x05, 1, 2 << 24)).completion.status).toBe(Status.InvalidField);
    expect((await send(rig, 0, ZoneSendAction.Reset)).status).toBe(Status.InvalidOpcode);
  });

  it('rejects geometries Linux cannot use', async () => {
    await expect(startNvmeHarness({ namespaces: [{ sizeBytes: 8 << 20, zoned: { zoneSizeBytes: 3 << 20 } }] })).rejects.toThrow(
      /power of two/,
    );
    await expect(startNvmeHarness({ namespaces: [{ sizeBytes: 9 << 20, zoned: { zoneSizeBytes: 2 << 20 } }] })).rejects.toThrow(/multiple/);
    await expect(
      startNvmeHarness({ namespaces: [{ sizeBytes: 8 << 20, zoned: { zoneSizeBytes: 1 << 20, maxActiveZones: 1, maxOpenZones: 2 } }] }),
    ).rejects.toThrow(/maxOpenZones/);
  });
});

describe('Zoned Namespace command set: writes, appends and reads', () => {
  it('writes only at the write pointer; the zone fills and reports Full', async () => {
    const r = await zonedRig({ zoneSizeBytes: 1 << 20, zoneCapacityBytes: 512 << 10 });
    expect((await write(r, ZONE, 8, 0x11)).status).toBe(Status.Success);
    let z = await zoneState(r, 1);
    expect(z).toMatchObject({ type: 2, state: ZoneState.ImplicitlyOpened, zcap: 1024n, zslba: 2048n, wp: 2056n });
    expect((await write(r, ZONE + 4, 1, 0x22)).status).toBe(Status.ZoneInvalidWrite);
    expect((await write(r, ZONE + 100, 1, 0x22)).status).toBe(Status.ZoneInvalidWrite);
    // Past the zone capacity (1024 blocks) from the write pointer.
    expect((await write(r, ZONE + 8, 1024, 0x22)).status).toBe(Status.ZoneBoundaryError);
    expect((await write(r, ZONE + 8, 1016, 0x22)).status).toBe(Status.Success);
    z = await zoneState(r, 1);
    expect(z.state).toBe(ZoneState.Full);
    expect((await write(r, ZONE + 1024, 1, 0x33)).status).toBe(Status.ZoneIsFull);
    const back = await read(r, ZONE, 1024);
    expect(back.data.every((b, i) => b === (i < 8 * 512 ? 0x11 : 0x22))).toBe(true);
    // Between capacity and zone size: never written, reads zeroes.
    expect((await read(r, ZONE + 1024, 8)).data.every((b) => b === 0)).toBe(true);
  });

  it('Write Zeroes and Write Uncorrectable follow the write pointer too', async () => {
    const r = await zonedRig();
    const wz = (slba: number, nlb: number) => r.driver.submit(1, { opcode: IoOpcode.WriteZeroes, nsid: 1, cdw10: slba, cdw12: nlb - 1 });
    const wu = (slba: number, nlb: number) =>
      r.driver.submit(1, { opcode: IoOpcode.WriteUncorrectable, nsid: 1, cdw10: slba, cdw12: nlb - 1 });
    expect((await wz(5, 1)).status).toBe(Status.ZoneInvalidWrite);
    expect((await wz(0, 16)).status).toBe(Status.Success);
    expect((await zoneState(r, 0)).wp).toBe(16n);
    expect((await wu(20, 1)).status).toBe(Status.ZoneInvalidWrite);
    expect((await wu(16, 4)).status).toBe(Status.Success);
    expect((await zoneState(r, 0)).wp).toBe(20n);
    expect((await read(r, 16, 1)).status).toBe(Status.UnrecoveredReadError);
  });

  it('Zone Append returns the LBA written, in execution order, and rejects hostile input', async () => {
    const r = await zonedRig({ zoneSizeBytes: 1 << 20 }, { zoneAppendSizeLimitBytes: 16 << 10 });
    const first = await append(r, 3 * ZONE, 4, 0xa1);
    expect(first).toEqual({ status: Status.Success, lba: 3 * ZONE });
    // Five appends behind one doorbell, executed concurrently: distinct, consecutive positions.
    const cids = [0, 1, 2, 3, 4].map((i) => {
      const buf = r.driver.memory.alloc(1024);
      r.driver.memory.view(buf, 1024).fill(0xb0 + i);
      return r.driver.enqueue(1, { opcode: IoOpcode.ZoneAppend, nsid: 1, prp1: buf, cdw10: 3 * ZONE, cdw12: 1 });
    });
    await r.driver.ringSqTail(1);
    const many = [];
    for (const cid of cids) {
      const done = await r.driver.waitForCompletion(1, cid);
      many.push({ status: done.status, lba: done.dw0 + done.dw1 * 2 ** 32 });
    }
    expect(many.every((a) => a.status === Status.Success)).toBe(true);
    expect(many.map((a) => a.lba).sort((a, b) => a - b)).toEqual([6148, 6150, 6152, 6154, 6156]);
    for (const [i, a] of many.entries()) expect((await read(r, a.lba, 2)).data.every((b) => b === 0xb0 + i)).toBe(true);
    expect((await zoneState(r, 3)).wp).toBe(BigInt(3 * ZONE + 14));

    expect((await append(r, 3 * ZONE + 1, 1, 0)).status).toBe(Status.InvalidField); // ZSLBA not a zone start
    expect((await append(r, 3 * ZONE, 33, 0)).status).toBe(Status.InvalidField); // 16.5 KiB > ZASL
    expect((await append(r, 8 * ZONE, 1, 0)).status).toBe(Status.LbaOutOfRange);
    // Fill zone 7 to one block short of its end, then append two blocks: past the zone.
    for (let i = 0; i < 63; i++) expect((await append(r, 7 * ZONE, 32, 1)).status).toBe(Status.Success);
    expect((await append(r, 7 * ZONE, 31, 1)).status).toBe(Status.Success);
    expect((await append(r, 7 * ZONE, 2, 1)).status).toBe(Status.ZoneBoundaryError);
    expect((await append(r, 7 * ZONE, 1, 1)).lba).toBe(8 * ZONE - 1);
    expect((await zoneState(r, 7)).state).toBe(ZoneState.Full);
    expect((await append(r, 7 * ZONE, 1, 1)).status).toBe(Status.ZoneIsFull);
  });

  it('reads cross zone boundaries with RAZB, fail with Zone Boundary Error without it', async () => {
    let r = await zonedRig();
    for (const at of [0, 1024]) expect((await write(r, at, 1024, 0x5a)).status).toBe(Status.Success);
    const across = await read(r, ZONE - 4, 8);
    expect(across.status).toBe(Status.Success);
    expect([...across.data.subarray(0, 2048)].every((b) => b === 0x5a)).toBe(true);
    expect([...across.data.subarray(2048)].every((b) => b === 0)).toBe(true);
    await r.close();
    r = await zonedRig({ zoneSizeBytes: 1 << 20, readAcrossZoneBoundaries: false });
    expect((await read(r, ZONE - 4, 8)).status).toBe(Status.ZoneBoundaryError);
    expect((await read(r, ZONE - 4, 4)).status).toBe(Status.Success);
    const id = await r.driver.identify(0x05, 1, 2 << 24);
    expect(new DataView(id.data.buffer).getUint16(2, true)).toBe(0);
  });
});

describe('Zoned Namespace command set: zone management', () => {
  it('opens, closes, finishes and resets zones; reset deallocates the data', async () => {
    const r = await zonedRig({ zoneSizeBytes: 1 << 20 }, { holePuncher: new NativeHolePuncher() });
    // An explicitly opened zone with nothing written resets without touching the image.
    expect((await send(r, 4 * ZONE, ZoneSendAction.Open)).status).toBe(Status.Success);
    expect((await send(r, 0, ZoneSendAction.Reset, true)).status).toBe(Status.Success);
    expect((await zoneState(r, 4)).state).toBe(ZoneState.Empty);
    expect((await send(r, ZONE, ZoneSendAction.Open)).status).toBe(Status.Success);
    expect((await zoneState(r, 1)).state).toBe(ZoneState.ExplicitlyOpened);
    await write(r, ZONE, 16, 0x77);
    expect((await zoneState(r, 1)).state).toBe(ZoneState.ExplicitlyOpened);
    expect((await send(r, ZONE, ZoneSendAction.Close)).status).toBe(Status.Success);
    expect(await zoneState(r, 1)).toMatchObject({ state: ZoneState.Closed, wp: BigInt(ZONE + 16) });
    expect((await send(r, ZONE, ZoneSendAction.Finish)).status).toBe(Status.Success);
    expect(await zoneState(r, 1)).toMatchObject({ state: ZoneState.Full, wp: BigInt(2 * ZONE) });
    expect((await send(r, ZONE, ZoneSendAction.Open)).status).toBe(Status.InvalidZoneStateTransition);
    expect((await send(r, ZONE, ZoneSendAction.Close)).status).toBe(Status.InvalidZoneStateTransition);
    expect((await send(r, ZONE, ZoneSendAction.Reset)).status).toBe(Status.Success);
    expect(await zoneState(r, 1)).toMatchObject({ state: ZoneState.Empty, wp: BigInt(ZONE) });
    expect((await read(r, ZONE, 16)).data.every((b) => b === 0)).toBe(true);
    // Finish straight from Empty; Close of an Empty zone is not a transition.
    expect((await send(r, 2 * ZONE, ZoneSendAction.Close)).status).toBe(Status.InvalidZoneStateTransition);
    expect((await send(r, 2 * ZONE, ZoneSendAction.Finish)).status).toBe(Status.Success);
    expect((await zoneState(r, 2)).state).toBe(ZoneState.Full);
  });

  it('rejects a SLBA that is not a zone start, unknown actions and out-of-range LBAs', async () => {
    const r = await zonedRig();
    expect((await send(r, ZONE + 1, ZoneSendAction.Open)).status).toBe(Status.InvalidField);
    expect((await send(r, 0, 0x10)).status).toBe(Status.InvalidField); // Set Zone Descriptor Extension, ZDES = 0
    expect((await send(r, 0, 0x9)).status).toBe(Status.InvalidField);
    expect((await send(r, 8 * ZONE, ZoneSendAction.Reset)).status).toBe(Status.LbaOutOfRange);
    expect((await report(r, 8 * ZONE)).status).toBe(Status.LbaOutOfRange);
    expect((await report(r, 0, { action: 1 })).status).toBe(Status.InvalidField); // extended report, no ZDES
    expect((await report(r, 0, { filter: 8 })).status).toBe(Status.InvalidField);
  });

  it('select all: close, open, finish and reset every zone they apply to', async () => {
    const r = await zonedRig();
    for (const z of [0, 2, 5]) await write(r, z * ZONE, 8, 0x10 + z);
    expect((await send(r, 0, ZoneSendAction.Close, true)).status).toBe(Status.Success);
    let rep = await report(r, 0, { filter: 4 });
    expect(rep.zones.map((z) => z.zslba)).toEqual([0n, 4096n, 10240n]);
    expect((await send(r, 0, ZoneSendAction.Open, true)).status).toBe(Status.Success);
    expect((await report(r, 0, { filter: 3 })).count).toBe(3n);
    expect((await send(r, 0, ZoneSendAction.Finish, true)).status).toBe(Status.Success);
    expect((await report(r, 0, { filter: 5 })).count).toBe(3n);
    expect((await send(r, 99, ZoneSendAction.Reset, true)).status).toBe(Status.Success); // SLBA ignored
    rep = await report(r, 0, { filter: 1 });
    expect(rep.count).toBe(8n);
    expect((await read(r, 5 * ZONE, 8)).data.every((b) => b === 0)).toBe(true);
  });

  it('reports zones from SLBA on, with the partial flag, filters and short buffers', async () => {
    const r = await zonedRig();
    await write(r, 4 * ZONE, 3, 1);
    let rep = await report(r, 2 * ZONE + 5);
    expect(rep.count).toBe(6n);
    expect(rep.zones.map((z) => Number(z.zslba) / ZONE)).toEqual([2, 3, 4, 5, 6, 7]);
    expect(rep.zones[2]).toMatchObject({ state: ZoneState.ImplicitlyOpened, wp: BigInt(4 * ZONE + 3), zcap: 2048n });
    // 3 descriptors fit; partial: 3, not partial: all 8 that match.
    rep = await report(r, 0, { bytes: 256, partial: true });
    expect(rep.count).toBe(3n);
    expect(rep.zones.map((z) => z.zslba)).toEqual([0n, 2048n, 4096n]);
    rep = await report(r, 0, { bytes: 256, partial: false });
    expect(rep.count).toBe(8n);
    rep = await report(r, 0, { filter: 2 });
    expect(rep.zones.map((z) => z.zslba)).toEqual([BigInt(4 * ZONE)]);
    // Only the header fits.
    expect((await report(r, 0, { bytes: 64, partial: false })).count).toBe(8n);
  });
});

describe('Zoned Namespace command set: zone resources', () => {
  it('enforces the open limit: an implicitly opened zone is closed to make room, explicit ones are not', async () => {
    const r = await zonedRig({ zoneSizeBytes: 1 << 20, maxOpenZones: 2, maxActiveZones: 3 });
    await write(r, 0, 1, 1);
    await write(r, ZONE, 1, 1);
    // A third zone: zone 0 (least recently opened, implicitly) is closed.
    expect((await write(r, 2 * ZONE, 1, 1)).status).toBe(Status.Success);
    expect((await zoneState(r, 0)).state).toBe(ZoneState.Closed);
    // Three zones active: a fourth cannot open.
    expect((await write(r, 3 * ZONE, 1, 1)).status).toBe(Status.TooManyActiveZones);
    expect((await send(r, 3 * ZONE, ZoneSendAction.Open)).status).toBe(Status.TooManyActiveZones);
    // Explicitly open zone 1 and 2: the open resources hold no implicitly opened zone any more.
    expect((await send(r, ZONE, ZoneSendAction.Open)).status).toBe(Status.Success);
    expect((await send(r, 2 * ZONE, ZoneSendAction.Open)).status).toBe(Status.Success);
    expect((await write(r, 1, 1, 1)).status).toBe(Status.TooManyOpenZones);
    expect((await send(r, 0, ZoneSendAction.Open)).status).toBe(Status.TooManyOpenZones);
    expect((await send(r, 0, ZoneSendAction.Open, true)).status).toBe(Status.TooManyOpenZones);
    // Finishing zone 2 frees an open and an active resource.
    expect((await send(r, 2 * ZONE, ZoneSendAction.Finish)).status).toBe(Status.Success);
    expect((await write(r, 1, 1, 1)).status).toBe(Status.Success);
    // Zones 0 (implicitly) and 1 (explicitly) open, 2 active: zone 3 opens in place of zone 0.
    expect((await write(r, 3 * ZONE, 1, 1)).status).toBe(Status.Success);
    expect((await zoneState(r, 0)).state).toBe(ZoneState.Closed);
    expect((await write(r, 5 * ZONE, 1, 1)).status).toBe(Status.TooManyActiveZones);
  });

  it('read-only and offline zones: writes and reads fail with their statuses, Offline action only from read-only', async () => {
    const r = await zonedRig();
    await write(r, ZONE, 8, 9);
    const zones = r.controller.namespaces.active(1)!.zones!;
    zones.setCondition(1, 'read-only');
    expect(await zoneState(r, 1)).toMatchObject({ state: ZoneState.ReadOnly, wp: 0xffffffffffffffffn });
    expect((await read(r, ZONE, 8)).data.every((b) => b === 9)).toBe(true);
    expect((await write(r, ZONE + 8, 1, 1)).status).toBe(Status.ZoneIsReadOnly);
    expect((await append(r, ZONE, 1, 1)).status).toBe(Status.ZoneIsReadOnly);
    expect((await send(r, ZONE, ZoneSendAction.Reset)).status).toBe(Status.InvalidZoneStateTransition);
    expect((await send(r, 0, ZoneSendAction.Offline)).status).toBe(Status.InvalidZoneStateTransition);
    expect((await send(r, 0, ZoneSendAction.Offline, true)).status).toBe(Status.Success);
    expect((await zoneState(r, 1)).state).toBe(ZoneState.Offline);
    expect((await read(r, ZONE, 1)).status).toBe(Status.ZoneIsOffline);
    expect((await read(r, ZONE - 1, 2)).status).toBe(Status.ZoneIsOffline);
    expect((await write(r, ZONE, 1, 1)).status).toBe(Status.ZoneIsOffline);
    // Select-all reset leaves it offline.
    expect((await send(r, 0, ZoneSendAction.Reset, true)).status).toBe(Status.Success);
    expect((await zoneState(r, 1)).state).toBe(ZoneState.Offline);
  });
});

describe('Zoned Namespace command set: persistence', () => {
  it('keeps write pointers and states across a server restart; opened zones come back Closed', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'p2pkit-zns-'));
    try {
      const zoned = { zoneSizeBytes: 1 << 20, maxOpenZones: 4 };
      let r = await zonedRig(zoned, { directory });
      await write(r, 0, 10, 0x42);
      await append(r, 2 * ZONE, 5, 0x43);
      await send(r, 3 * ZONE, ZoneSendAction.Finish);
      await send(r, 4 * ZONE, ZoneSendAction.Open);
      r.controller.namespaces.active(1)!.zones!.setCondition(6, 'read-only');
      await r.close();
      rig = undefined;

      r = await zonedRig(zoned, { directory });
      const rep = await report(r, 0);
      expect(rep.zones.map((z) => [z.state, z.wp])).toEqual([
        [ZoneState.Closed, 10n],
        [ZoneState.Empty, BigInt(ZONE)],
        [ZoneState.Closed, BigInt(2 * ZONE + 5)],
        [ZoneState.Full, BigInt(4 * ZONE)],
        [ZoneState.Empty, BigInt(4 * ZONE)],
        [ZoneState.Empty, BigInt(5 * ZONE)],
        [ZoneState.ReadOnly, 0xffffffffffffffffn],
        [ZoneState.Empty, BigInt(7 * ZONE)],
      ]);
      expect((await write(r, 10, 2, 0x44)).status).toBe(Status.Success);
      expect((await append(r, 2 * ZONE, 1, 0x45)).lba).toBe(2 * ZONE + 5);
      expect((await read(r, 0, 12)).data.every((b, i) => b === (i < 10 * 512 ? 0x42 : 0x44))).toBe(true);
      // Flush makes the write pointers durable (the image's data first, then the zone file).
      expect((await r.driver.submit(1, { opcode: IoOpcode.Flush, nsid: 1 })).status).toBe(Status.Success);
      const sidecar = await readFile(join(directory, 'ns1.raw.zones'));
      expect(sidecar.subarray(0, 8).toString()).toBe('P2PKZNS1');
      expect(sidecar.readBigUInt64LE(32 + 8)).toBe(12n * 512n); // zone 0 write pointer, bytes
      await r.close();
      rig = undefined;

      // A corrupt or mismatched sidecar is refused with a clear message, not silently reset.
      await expect(zonedRig({ zoneSizeBytes: 2 << 20 }, { directory })).rejects.toThrow(/geometry/);
      sidecar[40] = (sidecar[40] ?? 0) ^ 0xff;
      await writeFile(join(directory, 'ns1.raw.zones'), sidecar);
      await expect(zonedRig(zoned, { directory })).rejects.toThrow(/CRC/);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it('a FUA Zone Append or Write makes its write pointer durable before completing', async () => {
    const r = await zonedRig();
    const sidecar = join(r.directory, 'ns1.raw.zones');
    const savedWritePointer = async (z: number) => (await readFile(sidecar)).readBigUInt64LE(32 + z * 16 + 8);
    expect((await append(r, 2 * ZONE, 3, 7, 1 << 30)).status).toBe(Status.Success);
    expect(await savedWritePointer(2)).toBe(3n * 512n);
    const buf = r.driver.memory.alloc(512);
    const fua = { opcode: IoOpcode.Write, nsid: 1, slba: BigInt(2 * ZONE + 3), blocks: 1, buffer: buf, bytes: 512 } as const;
    expect((await r.driver.readWrite(1, { ...fua, command: { cdw12: 1 << 30 } })).status).toBe(Status.Success);
    expect(await savedWritePointer(2)).toBe(4n * 512n);
  });

  it('Format NVM empties every zone', async () => {
    const r = await zonedRig();
    await write(r, 0, 4, 1);
    expect((await r.driver.admin({ opcode: AdminOpcode.FormatNvm, nsid: 1, cdw10: 1 })).status).toBe(Status.Success);
    const rep = await report(r, 0);
    expect(rep.zones.every((z) => z.state === ZoneState.Empty)).toBe(true);
    // 4 KiB blocks now: a zone is 256 of them.
    expect(rep.zones[1]!.zslba).toBe(256n);
  });
});
