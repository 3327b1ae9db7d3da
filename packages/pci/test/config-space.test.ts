import { describe, expect, it } from 'vitest';
import { defineEndpoint, mmio, PciCommand, PciHeader, PciStatus } from '../src/index.ts';
import { ConfigSpace } from '../src/internal.ts';
import { cfgRead, cfgWrite, fakeContext, silentLogger } from './fake-context.ts';

const basic = defineEndpoint({
  ids: { vendor: 0x1b36, device: 0x00f0, class: 0xff0000, revision: 1, subsystemVendor: 0x1af4, subsystem: 0x1100 },
  bars: { 0: mmio({ size: 4096 }) },
  interruptPin: 1,
});

describe('ConfigSpace masks', () => {
  it('applies RO, RW and RW1C bits per byte', () => {
    const space = new ConfigSpace(256);
    space.define({ offset: 0x40, width: 4, value: 0xa5a5_0f0f, rw: 0x0000_00ff, rw1c: 0x0f00_0000 });
    space.write(0x40, new Uint8Array([0x12, 0xff, 0xff, 0x03]));
    // byte0 RW takes 0x12; byte1 RO keeps 0x0f; byte2 RO keeps 0xa5; byte3: bits 0,1 cleared by W1C.
    expect(space.get32(0x40)).toBe(0xa4a5_0f12);
    space.write(0x43, new Uint8Array([0x00])); // writing 0 to RW1C does nothing
    expect(space.get8(0x43)).toBe(0xa4);
  });

  it('reset restores defaults but keeps sticky bits', () => {
    const space = new ConfigSpace(256);
    space.define({ offset: 0x50, width: 2, value: 0, rw: 0xffff, sticky: 0xff00 });
    space.captureDefaults();
    space.write(0x50, new Uint8Array([0x34, 0x12]));
    space.reset();
    expect(space.get16(0x50)).toBe(0x1200);
  });

  it('notifies write listeners with the previous contents', () => {
    const space = new ConfigSpace(256);
    space.define({ offset: 0x60, width: 2, value: 0x1111, rw: 0xffff });
    const seen: number[] = [];
    space.onWrite(0x60, 2, (w) => seen.push((w.previous[0] ?? 0) | ((w.previous[1] ?? 0) << 8)));
    space.write(0x5c, new Uint8Array(4)); // not overlapping
    space.write(0x60, new Uint8Array([0x22, 0x22]));
    expect(seen).toEqual([0x1111]);
  });

  it('rejects sizes other than 256 and 4096', () => {
    expect(() => new ConfigSpace(512 as 256)).toThrow(RangeError);
  });
});

describe('type-0 header', () => {
  it('exposes IDs, class, header type, subsystem and pin read-only', () => {
    const dev = basic.create({ logger: silentLogger });
    const ro: Array<[number, 1 | 2 | 4, number]> = [
      [PciHeader.VENDOR_ID, 2, 0x1b36],
      [PciHeader.DEVICE_ID, 2, 0x00f0],
      [PciHeader.REVISION_ID, 1, 1],
      [PciHeader.CLASS_PROG, 1, 0x00],
      [0x0a, 2, 0xff00],
      [PciHeader.HEADER_TYPE, 1, 0],
      [PciHeader.SUBSYSTEM_VENDOR_ID, 2, 0x1af4],
      [PciHeader.SUBSYSTEM_ID, 2, 0x1100],
      [PciHeader.INTERRUPT_PIN, 1, 1],
      [PciHeader.ROM_ADDRESS, 4, 0],
    ];
    for (const [offset, size, value] of ro) {
      expect(cfgRead(dev, offset, size), `offset ${offset}`).toBe(value);
      cfgWrite(dev, offset, size, 0xffff_ffff >>> (32 - size * 8));
      expect(cfgRead(dev, offset, size), `offset ${offset} after write`).toBe(value);
    }
  });

  it('keeps Interrupt Line writable', () => {
    const dev = basic.create({ logger: silentLogger });
    cfgWrite(dev, PciHeader.INTERRUPT_LINE, 1, 11);
    expect(cfgRead(dev, PciHeader.INTERRUPT_LINE, 1)).toBe(11);
  });

  it('masks the command register to implemented bits', () => {
    const dev = basic.create({ logger: silentLogger });
    cfgWrite(dev, PciHeader.COMMAND, 2, 0xffff);
    const cmd = cfgRead(dev, PciHeader.COMMAND, 2);
    expect(cmd & PciCommand.MEMORY_SPACE).toBeTruthy();
    expect(cmd & PciCommand.BUS_MASTER).toBeTruthy();
    expect(cmd & PciCommand.INTERRUPT_DISABLE).toBeTruthy();
    expect(cmd & PciCommand.IO_SPACE).toBe(0); // no I/O BAR
    expect(cmd & PciCommand.SPECIAL_CYCLES).toBe(0);
    expect(dev.busMasterEnabled).toBe(true);
  });

  it('clears status error bits on write-1 only and never sets them from the guest', () => {
    const dev = basic.create({ logger: silentLogger });
    cfgWrite(dev, PciHeader.STATUS, 2, 0xffff);
    expect(cfgRead(dev, PciHeader.STATUS, 2)).toBe(0); // guest cannot set anything
    dev.commandStatus.setStatusBits(PciStatus.RECEIVED_MASTER_ABORT | PciStatus.SIGNALED_TARGET_ABORT);
    cfgWrite(dev, PciHeader.STATUS, 2, PciStatus.RECEIVED_MASTER_ABORT);
    expect(cfgRead(dev, PciHeader.STATUS, 2)).toBe(PciStatus.SIGNALED_TARGET_ABORT);
  });

  it('sets PciStatus.CAPABILITY_LIST only with capabilities', () => {
    const dev = basic.create({ logger: silentLogger });
    expect(cfgRead(dev, PciHeader.STATUS, 2) & PciStatus.CAPABILITY_LIST).toBe(0);
    expect(cfgRead(dev, PciHeader.CAPABILITY_LIST, 1)).toBe(0);
  });

  it('serves a whole-space read and reports out-of-range accesses as guest errors', () => {
    const dev = basic.create({ logger: silentLogger });
    const ctx = fakeContext();
    dev.attach(ctx);
    expect(dev.regionRead(7, 0n, 256)).toHaveLength(256);
    expect([...dev.regionRead(7, 254n, 4)]).toEqual([0xff, 0xff, 0xff, 0xff]);
    dev.regionWrite(7, 300n, new Uint8Array(4));
    expect(ctx.guestErrors).toHaveLength(2);
  });

  it('validates identity fields', () => {
    expect(() => defineEndpoint({ ids: { vendor: 0x1_0000, device: 0, class: 0 } })).toThrow(/vendor/);
  });
});
