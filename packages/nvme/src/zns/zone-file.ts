/**
 * Zone states and write pointers in a sidecar file next to the image (`<image>.zones`), so a
 * restarted server finds its zones as it left them. The file is replaced atomically (temporary file,
 * fdatasync, rename, directory fsync) and carries a CRC-32, so a crash leaves the old or the new
 * table, never a torn one.
 *
 * Layout (little endian): magic "P2PKZNS1" | u32 zone count | u32 reserved | u64 zone size bytes |
 * u64 zone capacity bytes | per zone: u8 state, 7 reserved, u64 write pointer offset in bytes |
 * u32 CRC-32 of everything before it.
 */
import { open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { crc32 } from 'node:zlib';
import { ZoneState, ZoneTable, type ZoneTableImage } from './zone-table.ts';
import type { ZoneGeometry } from './zoned-options.ts';

const MAGIC = 'P2PKZNS1';
const HEADER_BYTES = 32;
const ENTRY_BYTES = 16;
const VALID_STATES = new Set<number>(Object.values(ZoneState));

/** The sidecar path of an image. */
function zoneFilePath(imagePath: string): string {
  return `${imagePath}.zones`;
}

function encode(table: ZoneTable): Uint8Array {
  const { states, writtenBytes } = table.image();
  const out = new Uint8Array(HEADER_BYTES + table.count * ENTRY_BYTES + 4);
  const v = new DataView(out.buffer);
  out.set(new TextEncoder().encode(MAGIC), 0);
  v.setUint32(8, table.count, true);
  v.setBigUint64(16, BigInt(table.geometry.zoneSizeBytes), true);
  v.setBigUint64(24, BigInt(table.geometry.zoneCapacityBytes), true);
  for (let z = 0; z < table.count; z++) {
    const at = HEADER_BYTES + z * ENTRY_BYTES;
    v.setUint8(at, states[z]!);
    v.setBigUint64(at + 8, BigInt(writtenBytes[z]!), true);
  }
  v.setUint32(out.byteLength - 4, crc32(out.subarray(0, out.byteLength - 4)), true);
  return out;
}

function decode(bytes: Uint8Array, geometry: ZoneGeometry, count: number, path: string): ZoneTableImage {
  const fail = (why: string): never => {
    throw new RangeError(`${path}: ${why}; remove it to start with every zone empty`);
  };
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < HEADER_BYTES + 4 || new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) fail('not a zone state file');
  if (v.getUint32(bytes.byteLength - 4, true) !== crc32(bytes.subarray(0, bytes.byteLength - 4))) fail('CRC mismatch');
  const saved = {
    count: v.getUint32(8, true),
    size: Number(v.getBigUint64(16, true)),
    capacity: Number(v.getBigUint64(24, true)),
  };
  if (saved.count !== count || saved.size !== geometry.zoneSizeBytes || saved.capacity !== geometry.zoneCapacityBytes)
    fail(
      `saved geometry (${saved.count} zones of ${saved.size} bytes, capacity ${saved.capacity}) differs from the options ` +
        `(${count} zones of ${geometry.zoneSizeBytes} bytes, capacity ${geometry.zoneCapacityBytes})`,
    );
  if (bytes.byteLength !== HEADER_BYTES + count * ENTRY_BYTES + 4) fail('wrong length');
  const states = new Uint8Array(count);
  const writtenBytes = new Float64Array(count);
  for (let z = 0; z < count; z++) {
    const at = HEADER_BYTES + z * ENTRY_BYTES;
    states[z] = v.getUint8(at);
    writtenBytes[z] = Number(v.getBigUint64(at + 8, true));
    if (!VALID_STATES.has(states[z]!) || writtenBytes[z]! > geometry.zoneCapacityBytes || writtenBytes[z]! % 512 !== 0)
      fail(`zone ${z}: state 0x${states[z]!.toString(16)}, write pointer offset ${writtenBytes[z]}`);
  }
  return { states, writtenBytes };
}

/** A zone table kept in its sidecar file. */
export class PersistentZoneTable {
  private persisted: number;
  private writing: Promise<void> | undefined;

  private constructor(
    readonly table: ZoneTable,
    private readonly path: string,
  ) {
    this.persisted = table.version;
  }

  /** Loads `<imagePath>.zones` when it exists (checked against `geometry`), else every zone Empty. */
  static async open(imagePath: string, geometry: ZoneGeometry, sizeBytes: number, lbaShift: () => number): Promise<PersistentZoneTable> {
    const path = zoneFilePath(imagePath);
    const count = sizeBytes / geometry.zoneSizeBytes;
    let saved: Uint8Array | undefined;
    try {
      const file = await open(path, 'r');
      try {
        saved = new Uint8Array(await file.readFile());
      } finally {
        await file.close();
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const table = new ZoneTable(geometry, sizeBytes, lbaShift, saved && decode(saved, geometry, count, path));
    return new PersistentZoneTable(table, path);
  }

  /** Makes every change made so far durable; concurrent callers share one write. */
  async persist(): Promise<void> {
    const target = this.table.version;
    while (this.persisted < target) {
      if (this.writing) {
        await this.writing.catch(() => {});
        continue;
      }
      const version = this.table.version;
      const bytes = encode(this.table);
      this.writing = replaceFile(this.path, bytes).then(
        () => {
          this.persisted = version;
          this.writing = undefined;
        },
        (err: unknown) => {
          this.writing = undefined;
          throw err;
        },
      );
      await this.writing;
    }
  }
}

/** Writes `path` atomically: temporary file, fdatasync, rename over it, fsync of the directory. */
async function replaceFile(path: string, bytes: Uint8Array): Promise<void> {
  const temp = `${path}.tmp`;
  const file = await open(temp, 'w');
  try {
    await file.write(bytes, 0, bytes.byteLength, 0);
    await file.datasync();
  } finally {
    await file.close();
  }
  await rename(temp, path);
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
