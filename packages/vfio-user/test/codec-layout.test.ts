import { describe, expect, it } from 'vitest';
import { decodeFields, encodeFields, layout, pad, u8, u16, u32, u64 } from '../src/codec/layout.ts';
import * as L from '../src/codec/messages.ts';
import * as codec from '../src/codec.ts';
import { MalformedMessageError } from '../src/errors.ts';
import { HEADER_SIZE, REGION_INFO_CAP_SPARSE_MMAP, WRITE_MULTI_DATA } from '../src/protocol.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const bytes = (...xs: number[]) => Uint8Array.from(xs);

/** A message kind: its encoded body, its decoder, what decoding gives, and the fixed part's size. */
type Case = [name: string, body: Buffer, decode: (p: Uint8Array) => unknown, expected: unknown, fixed: number];

const sparse = [
  { offset: 0x1000n, size: 0x2000n },
  { offset: 0x8000n, size: 0xffff_ffff_0000n },
];
const multi = [
  { offset: 0x10n, region: 0, data: bytes(1, 2, 3, 4) },
  { offset: 0xffff_ffff_ffff_fff8n, region: 2, data: bytes(1, 2, 3, 4, 5, 6, 7, 8) },
];
const caps = { max_msg_fds: 16, migration: { pgsize: 4096 } };
const map = { flags: 3, offset: 0x1000n, address: 0xffff_ffff_ffff_f000n, size: 0x4000_0000n };
const unmap = { flags: 2, address: 0x8000_0000n, size: 1n << 40n };
const device = { argsz: 16, flags: 3, numRegions: 9, numIrqs: 5 };
const region = { flags: 15, index: 2, size: 0x1_0000_0000n, offset: 0n };
const irq = { argsz: 16, flags: 9, index: 2, count: 32 };
const set = { flags: 0x22, index: 2, start: 1, count: 3 };
const write = { offset: 0xffff_ffff_0000n, region: 7, count: 2, data: bytes(0xaa, 0x55) };
const dmaWrite = { address: 0xffff_ffff_ffff_fffen, count: 2n, data: bytes(9, 8) };

const cases: Case[] = [
  [
    'header',
    codec.encodeMessage({ id: 7, command: 9, flags: 1, error: 0 }, bytes(1, 2, 3)),
    codec.decodeHeader,
    { id: 7, command: 9, size: 19, flags: 1, error: 0 },
    HEADER_SIZE,
  ],
  [
    'VERSION',
    codec.encodeVersion({ major: 0, minor: 1, capabilities: caps }),
    codec.decodeVersion,
    { major: 0, minor: 1, capabilities: caps },
    4,
  ],
  ['DMA_MAP', codec.encodeDmaMap(map), codec.decodeDmaMap, { argsz: 32, ...map }, 32],
  ['DMA_UNMAP', codec.encodeDmaUnmap(unmap), codec.decodeDmaUnmap, { argsz: 24, ...unmap }, 24],
  ['DEVICE_GET_INFO', codec.encodeDeviceInfo(device), codec.decodeDeviceInfo, device, 16],
  ['DEVICE_GET_INFO request', codec.encodeDeviceInfo({ ...device, argsz: 16 }), (p) => codec.decodeArgsz(p, 'DEVICE_GET_INFO'), 16, 4],
  [
    'REGION_INFO request',
    codec.encodeRegionInfoRequest(4, 80),
    codec.decodeRegionInfo,
    { argsz: 80, flags: 0, index: 4, capOffset: 0, size: 0n, offset: 0n },
    32,
  ],
  ['REGION_INFO', codec.encodeRegionInfo(region), codec.decodeRegionInfo, { argsz: 32, capOffset: 0, ...region }, 32],
  [
    'REGION_INFO, sparse mmap',
    codec.encodeRegionInfo({ ...region, sparse }),
    codec.decodeRegionInfo,
    { argsz: 80, capOffset: 32, ...region, sparse },
    32,
  ],
  ['IRQ_INFO', codec.encodeIrqInfo(irq), codec.decodeIrqInfo, irq, 16],
  ['SET_IRQS', codec.encodeSetIrqs({ ...set, data: bytes(1, 0, 1) }), codec.decodeSetIrqs, { argsz: 23, ...set, data: bytes(1, 0, 1) }, 20],
  ['SET_IRQS, no data', codec.encodeSetIrqs(set), codec.decodeSetIrqs, { argsz: 20, ...set, data: bytes() }, 20],
  [
    'REGION_READ',
    codec.encodeRegionAccess({ offset: 0x40n, region: 0, count: 4 }),
    codec.decodeRegionAccess,
    { offset: 0x40n, region: 0, count: 4, data: bytes() },
    16,
  ],
  ['REGION_WRITE', codec.encodeRegionAccess(write), (p) => codec.decodeRegionAccess(p, 'REGION_WRITE'), write, 16],
  // every entry is needed: any shorter body is malformed
  ['REGION_WRITE_MULTI', codec.encodeWriteMulti(multi), codec.decodeWriteMulti, multi, 8 + 2 * (16 + WRITE_MULTI_DATA)],
  [
    'DMA_READ',
    codec.encodeDmaAccess({ address: 0x1_0000n, count: 4096n }),
    codec.decodeDmaAccess,
    { address: 0x1_0000n, count: 4096n, data: bytes() },
    16,
  ],
  ['DMA_WRITE', codec.encodeDmaAccess(dmaWrite), (p) => codec.decodeDmaAccess(p, 'DMA_WRITE'), dmaWrite, 16],
];

/** Compare Uint8Array and Buffer views by content. */
const plain = (x: unknown): unknown =>
  x instanceof Uint8Array
    ? [...x]
    : Array.isArray(x)
      ? x.map(plain)
      : x && typeof x === 'object'
        ? Object.fromEntries(Object.entries(x).map(([k, v]) => [k, plain(v)]))
        : x;

describe('codec layouts', () => {
  it.each(cases)('%s round-trips', (_, body, decode, expected) => {
    expect(plain(decode(body))).toEqual(plain(expected));
  });

  it.each(cases)('%s: every body shorter than its fixed part is MalformedMessageError', (_, body, decode, _expected, fixed) => {
    // Both an exact-size copy (a missing check would be a RangeError) and a view into a larger
    // buffer (a missing check would read past the payload).
    const padded = Buffer.alloc(body.length + 64, 0xff);
    body.copy(padded);
    for (let n = 0; n < fixed; n++) {
      for (const p of [Uint8Array.from(body.subarray(0, n)), padded.subarray(0, n)]) {
        expect(() => decode(p), `${n} bytes`).toThrow(MalformedMessageError);
      }
    }
  });

  it('declares the spec sizes', () => {
    const sizes = Object.fromEntries(Object.entries(L).map(([k, l]) => [k, l.size]));
    expect(sizes).toEqual({
      HEADER: 16,
      VERSION: 4,
      DMA_MAP: 32,
      DMA_UNMAP: 24,
      ARGSZ: 4,
      DEVICE_INFO: 16,
      REGION_INFO: 32,
      SPARSE_MMAP_CAP: 16,
      SPARSE_MMAP_AREA: 16,
      IRQ_INFO: 16,
      SET_IRQS: 20,
      REGION_ACCESS: 16,
      WRITE_MULTI: 8,
      WRITE_MULTI_ENTRY: 16 + WRITE_MULTI_DATA,
      DMA_ACCESS: 16,
    });
  });

  it('writes the wire bytes the spec lays out', () => {
    expect(hex(codec.encodeMessage({ id: 0x1_0002, command: 9, flags: -1, error: 0 }, bytes(0xee)))).toBe(
      '0200' + '0900' + '11000000' + 'ffffffff' + '00000000' + 'ee',
    );
    expect(hex(codec.encodeRegionAccess({ offset: 0x0102n, region: 3, count: 1, data: bytes(0xab) }))).toBe(
      '0201000000000000' + '03000000' + '01000000' + 'ab',
    );
    const info = codec.encodeRegionInfo({ flags: 1, index: 2, size: 3n, offset: 4n, sparse: [{ offset: 5n, size: 6n }] });
    expect(hex(info)).toBe(
      '40000000' +
        '01000000' +
        '02000000' +
        '20000000' +
        '0300000000000000' +
        '0400000000000000' +
        '0100' +
        '0100' +
        '00000000' +
        '01000000' +
        '00000000' +
        '0500000000000000' +
        '0600000000000000',
    );
    expect(info.readUInt16LE(32)).toBe(REGION_INFO_CAP_SPARSE_MMAP);
    expect(hex(codec.encodeWriteMulti([{ offset: 1n, region: 2, data: bytes(7, 7) }]))).toBe(
      '0100000000000000' + '0100000000000000' + '02000000' + '02000000' + '0707000000000000',
    );
    expect(Buffer.from(codec.encodeVersion({ major: 0, minor: 0, capabilities: {} })).toString('latin1')).toBe(
      '\0\0\0\0{"capabilities":{}}\0',
    );
  });

  it('keeps the value checks', () => {
    const map = codec.encodeDmaMap({ flags: 1, offset: 0n, address: 0n, size: 1n });
    map.writeUInt32LE(31, 0);
    expect(() => codec.decodeDmaMap(map)).toThrow(/DMA_MAP: argsz 31 < 32/);
    const unmap = codec.encodeDmaUnmap({ flags: 0, address: 0n, size: 1n });
    unmap.writeUInt32LE(8, 0);
    expect(() => codec.decodeDmaUnmap(unmap)).toThrow(MalformedMessageError);

    const info = codec.encodeRegionInfo({ flags: 1, index: 0, size: 1n, offset: 0n, sparse });
    // a truncated area list is malformed; a capability header that does not fit is ignored
    for (let n = 48; n < info.length; n++) expect(() => codec.decodeRegionInfo(info.subarray(0, n))).toThrow(MalformedMessageError);
    for (let n = 32; n < 48; n++) expect(codec.decodeRegionInfo(info.subarray(0, n)).sparse).toBeUndefined();
    info.writeUInt32LE(1000, 40); // area count
    expect(() => codec.decodeRegionInfo(info)).toThrow(MalformedMessageError);

    const wm = codec.encodeWriteMulti(multi);
    wm.writeUInt32LE(0, 8 + 12);
    expect(() => codec.decodeWriteMulti(wm)).toThrow(/entry 0 count 0/);
    wm.writeUInt32LE(WRITE_MULTI_DATA + 1, 8 + 12);
    expect(() => codec.decodeWriteMulti(wm)).toThrow(MalformedMessageError);
    wm.writeBigUInt64LE(201n, 0);
    expect(() => codec.decodeWriteMulti(wm)).toThrow(/201 entries/);

    const version = (json: string) => Buffer.concat([Buffer.alloc(4), Buffer.from(json)]);
    expect(codec.decodeVersion(version('')).capabilities).toEqual({});
    expect(codec.decodeVersion(version('{"capabilities":{"a":1}}\0junk')).capabilities).toEqual({ a: 1 });
    for (const bad of ['{not json', '3', 'null', '{"capabilities":1}']) {
      expect(() => codec.decodeVersion(version(bad)), bad).toThrow(MalformedMessageError);
    }
  });

  it('decodes 64-bit fields as bigint, beyond 2^53', () => {
    const a = codec.decodeDmaAccess(codec.encodeDmaAccess({ address: (1n << 64n) - 1n, count: (1n << 53n) + 1n }));
    expect(a.address).toBe((1n << 64n) - 1n);
    expect(a.count).toBe((1n << 53n) + 1n);
  });
});

describe('layout engine', () => {
  const T = layout('T', [u8('a'), pad(1), u16('b'), u32('c', { min: 2 }), u64('d', { length: true })], 'data');

  it('lays fields out in order, zero-fills pads and fills length fields', () => {
    expect(T.size).toBe(16);
    const b = encodeFields(T, { a: 0xab, b: 0x1234, c: 5 }, bytes(1, 2));
    expect(hex(b)).toBe('ab00' + '3412' + '05000000' + '1200000000000000' + '0102');
    expect(plain(decodeFields(T, b))).toEqual({ a: 0xab, b: 0x1234, c: 5, d: 18n, data: [1, 2] });
  });

  it('refuses a value below its minimum and reserves zeroed tails', () => {
    const b = encodeFields(T, { a: 0, b: 0, c: 1 }, 3);
    expect(b.length).toBe(19);
    expect([...b.subarray(16)]).toEqual([0, 0, 0]);
    expect(() => decodeFields(T, b)).toThrow(/T: c 1 < 2/);
    expect(() => decodeFields(T, b, 'T', 4)).toThrow(/T: payload of 19 bytes, need 20/);
  });
});
