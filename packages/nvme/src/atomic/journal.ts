/**
 * Write-ahead journal sidecar (`<image>.atomic-journal`) that makes a multi-page atomic write all or
 * nothing across the death of the server process.
 *
 * Layout: a 4 KiB file header (magic, version, slot size, slot count), then fixed-size slots. A
 * record is a 48-byte header (magic, length, sequence, image offset, 16-byte SHA-256 prefix over
 * those fields and the data) followed by the data, written with one pwrite. Per write: record →
 * image → zero the record's magic. On open every record whose digest matches is applied to the image
 * in sequence order (it may have been applied partly or not at all), and torn records are dropped:
 * their write never reached the image, so its old contents stand.
 */
import { createHash } from 'node:crypto';
import { closeSync, fdatasync, fdatasyncSync, fstatSync, ftruncateSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { promisify } from 'node:util';

const fdatasyncAsync = promisify(fdatasync);

const FILE_MAGIC = 0x4a41_4b50; // "PKAJ" little-endian
const FILE_VERSION = 1;
const FILE_HEADER_BYTES = 4096;
const RECORD_MAGIC = 0x5243_4a41; // "AJCR"
const RECORD_HEADER_BYTES = 48;
const DIGEST_OFFSET = 32;
const DIGEST_BYTES = 16;

/** Writes all of `data` at `position` with synchronous pwrite(2) (regular files may return short counts). */
export function writeFully(fd: number, data: Uint8Array, position: number): void {
  let done = 0;
  while (done < data.byteLength) done += writeSync(fd, data, done, data.byteLength - done, position + done);
}

function readFully(fd: number, length: number, position: number): Buffer {
  const out = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, out, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return out.subarray(0, done);
}

function digest(header: Buffer, data: Uint8Array): Buffer {
  return createHash('sha256').update(header.subarray(0, DIGEST_OFFSET)).update(data).digest().subarray(0, DIGEST_BYTES);
}

interface Record {
  sequence: number;
  offset: number;
  data: Buffer;
}

/** A prepared record: `bytes` goes to the journal, `data` (a view into it) to the image. */
export interface JournalRecord {
  readonly bytes: Buffer;
  readonly data: Buffer;
}

export class AtomicJournal {
  private readonly free: number[];
  private readonly waiting: ((slot: number) => void)[] = [];
  private sequence: number;
  private dirty = false;
  private syncing: Promise<void> | undefined;

  private constructor(
    private readonly fd: number,
    readonly path: string,
    private readonly slotBytes: number,
    readonly slots: number,
    nextSequence: number,
  ) {
    this.free = Array.from({ length: slots }, (_, i) => i);
    this.sequence = nextSequence;
  }

  /**
   * Opens or creates the journal at `path`, applies its complete records to the image `imageFd`
   * (made durable before the journal is emptied) and returns it ready for records of up to
   * `maxDataBytes`. `replayed` counts the records applied.
   */
  static open(path: string, imageFd: number, maxDataBytes: number, slots = 8): { journal: AtomicJournal; replayed: number } {
    const fd = openSync(path, 'a+');
    closeSync(fd);
    const rw = openSync(path, 'r+');
    try {
      const records = AtomicJournal.readRecords(rw, fstatSync(imageFd).size);
      records.sort((a, b) => a.sequence - b.sequence);
      for (const r of records) writeFully(imageFd, r.data, r.offset);
      if (records.length > 0) fdatasyncSync(imageFd);
      const slotBytes = Math.ceil((RECORD_HEADER_BYTES + maxDataBytes) / 4096) * 4096;
      const header = Buffer.alloc(FILE_HEADER_BYTES);
      header.writeUInt32LE(FILE_MAGIC, 0);
      header.writeUInt32LE(FILE_VERSION, 4);
      header.writeUInt32LE(slotBytes, 8);
      header.writeUInt32LE(slots, 12);
      ftruncateSync(rw, 0);
      writeFully(rw, header, 0);
      fdatasyncSync(rw);
      const next = records.reduce((max, r) => Math.max(max, r.sequence), 0) + 1;
      return { journal: new AtomicJournal(rw, path, slotBytes, slots, next), replayed: records.length };
    } catch (e) {
      closeSync(rw);
      throw e;
    }
  }

  /** The complete records of a journal file (any slot geometry it was written with). */
  private static readRecords(fd: number, imageBytes: number): Record[] {
    const header = readFully(fd, 16, 0);
    if (header.byteLength < 16 || header.readUInt32LE(0) !== FILE_MAGIC || header.readUInt32LE(4) !== FILE_VERSION) return [];
    const slotBytes = header.readUInt32LE(8);
    const slots = header.readUInt32LE(12);
    const out: Record[] = [];
    for (let i = 0; i < slots; i++) {
      const base = FILE_HEADER_BYTES + i * slotBytes;
      const h = readFully(fd, RECORD_HEADER_BYTES, base);
      if (h.byteLength < RECORD_HEADER_BYTES || h.readUInt32LE(0) !== RECORD_MAGIC) continue;
      const length = h.readUInt32LE(4);
      const sequence = Number(h.readBigUInt64LE(8));
      const offset = Number(h.readBigUInt64LE(16));
      if (length > slotBytes - RECORD_HEADER_BYTES || offset + length > imageBytes) continue;
      const data = readFully(fd, length, base + RECORD_HEADER_BYTES);
      if (data.byteLength !== length || !digest(h, data).equals(h.subarray(DIGEST_OFFSET, DIGEST_OFFSET + DIGEST_BYTES))) continue;
      out.push({ sequence, offset, data });
    }
    return out;
  }

  /** A free slot, at once when one is free; otherwise when a write releases one. */
  acquire(): number | Promise<number> {
    const slot = this.free.pop();
    if (slot !== undefined) return slot;
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  release(slot: number): void {
    const next = this.waiting.shift();
    if (next) next(slot);
    else this.free.push(slot);
  }

  /** Gathers `sources` into a record for image byte `offset`, with the next sequence number. */
  prepare(offset: number, sources: readonly Uint8Array[]): JournalRecord {
    let length = 0;
    for (const s of sources) length += s.byteLength;
    const bytes = Buffer.allocUnsafe(RECORD_HEADER_BYTES + length);
    bytes.writeUInt32LE(RECORD_MAGIC, 0);
    bytes.writeUInt32LE(length, 4);
    bytes.writeBigUInt64LE(BigInt(this.sequence++), 8);
    bytes.writeBigUInt64LE(BigInt(offset), 16);
    bytes.fill(0, 24, DIGEST_OFFSET);
    let at = RECORD_HEADER_BYTES;
    for (const s of sources) {
      bytes.set(s, at);
      at += s.byteLength;
    }
    const data = bytes.subarray(RECORD_HEADER_BYTES);
    digest(bytes, data).copy(bytes, DIGEST_OFFSET);
    return { bytes, data };
  }

  /** Writes `record` into `slot` with one pwrite; a death during it leaves a record that fails its digest. */
  write(slot: number, record: JournalRecord): void {
    writeFully(this.fd, record.bytes, FILE_HEADER_BYTES + slot * this.slotBytes);
    this.dirty = true;
  }

  /** Marks the record in `slot` applied: it is never replayed. */
  invalidate(slot: number): void {
    writeFully(this.fd, new Uint8Array(4), FILE_HEADER_BYTES + slot * this.slotBytes);
    this.dirty = true;
  }

  /** fdatasync(2) of the journal when anything was written since the last one began. */
  async sync(): Promise<void> {
    // A sync already running covers every write made before it began.
    if (!this.dirty) return this.syncing;
    this.dirty = false;
    const running = fdatasyncAsync(this.fd);
    this.syncing = running;
    try {
      await running;
    } finally {
      if (this.syncing === running) this.syncing = undefined;
    }
  }

  /** Drops every record (Format NVM replaced the contents they belong to). */
  clear(): void {
    const header = readFully(this.fd, FILE_HEADER_BYTES, 0);
    ftruncateSync(this.fd, 0);
    writeFully(this.fd, header, 0);
    fdatasyncSync(this.fd);
  }

  /** Closes the journal; removes the file when no write holds a slot (nothing left to replay). */
  close(): void {
    const busy = this.free.length < this.slots;
    closeSync(this.fd);
    if (!busy) unlinkSync(this.path);
  }
}
