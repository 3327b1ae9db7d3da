/**
 * A PCI configuration space with per-byte access masks (PCI 3.0 §6.1, PCIe 6.0 §7.4 register types).
 *
 * Every byte has three masks: `writable` (RW bits), `clearable` (RW1C bits) and `sticky` (bits that
 * survive a reset: RWS/RW1CS/ROS). Bits in neither `writable` nor `clearable` are read-only to the
 * guest; the device itself changes any bit with the `set*` methods.
 */
import { CONVENTIONAL_CONFIG_SIZE, EXTENDED_CONFIG_SIZE } from './registers.ts';

export type ConfigSpaceSize = typeof CONVENTIONAL_CONFIG_SIZE | typeof EXTENDED_CONFIG_SIZE;

/** Register widths handled by the typed accessors. */
export type RegisterWidth = 1 | 2 | 4;

/** How a register behaves; bits set in a mask get that behaviour. */
export interface RegisterSpec {
  /** Byte offset in config space. */
  offset: number;
  width: RegisterWidth;
  /** Value after reset. Default 0. */
  value?: number;
  /** Read-write bits. */
  rw?: number;
  /** Write-1-to-clear bits. */
  rw1c?: number;
  /** Bits preserved across reset (sticky: RWS, RW1CS, ROS). */
  sticky?: number;
}

/** A guest write as seen by a write listener. */
export interface ConfigWrite {
  /** Offset of the first byte the guest wrote. */
  offset: number;
  /** The raw bytes the guest wrote (before masking). */
  data: Uint8Array;
  /** The listener's range as it was before the write. */
  previous: Uint8Array;
}

type WriteListener = (write: ConfigWrite) => void;

interface ListenerEntry {
  start: number;
  end: number;
  fn: WriteListener;
}

export class ConfigSpace {
  readonly size: ConfigSpaceSize;
  readonly bytes: Uint8Array;
  readonly writable: Uint8Array;
  readonly clearable: Uint8Array;
  readonly sticky: Uint8Array;
  readonly #view: DataView;
  #defaults: Uint8Array | undefined;
  readonly #listeners: ListenerEntry[] = [];

  constructor(size: ConfigSpaceSize) {
    if (size !== CONVENTIONAL_CONFIG_SIZE && size !== EXTENDED_CONFIG_SIZE) {
      throw new RangeError(`config space size must be 256 or 4096, got ${size}`);
    }
    this.size = size;
    this.bytes = new Uint8Array(size);
    this.writable = new Uint8Array(size);
    this.clearable = new Uint8Array(size);
    this.sticky = new Uint8Array(size);
    this.#view = new DataView(this.bytes.buffer);
  }

  /** Declares one register: its reset value and masks (overwrites earlier declarations). */
  define(spec: RegisterSpec): void {
    this.#check(spec.offset, spec.width);
    for (let i = 0; i < spec.width; i++) {
      const shift = 8 * i;
      const at = spec.offset + i;
      this.bytes[at] = ((spec.value ?? 0) >>> shift) & 0xff;
      this.writable[at] = ((spec.rw ?? 0) >>> shift) & 0xff;
      this.clearable[at] = ((spec.rw1c ?? 0) >>> shift) & 0xff;
      this.sticky[at] = ((spec.sticky ?? 0) >>> shift) & 0xff;
    }
  }

  /** Declares a table of registers. */
  defineAll(specs: readonly RegisterSpec[]): void {
    for (const spec of specs) this.define(spec);
  }

  get8(offset: number): number {
    this.#check(offset, 1);
    return this.#view.getUint8(offset);
  }
  get16(offset: number): number {
    this.#check(offset, 2);
    return this.#view.getUint16(offset, true);
  }
  get32(offset: number): number {
    this.#check(offset, 4);
    return this.#view.getUint32(offset, true);
  }
  get64(offset: number): bigint {
    this.#check(offset, 8);
    return this.#view.getBigUint64(offset, true);
  }
  /** Device-side write: ignores masks and does not notify listeners. */
  set8(offset: number, value: number): void {
    this.#check(offset, 1);
    this.#view.setUint8(offset, value);
  }
  set16(offset: number, value: number): void {
    this.#check(offset, 2);
    this.#view.setUint16(offset, value, true);
  }
  set32(offset: number, value: number): void {
    this.#check(offset, 4);
    this.#view.setUint32(offset, value >>> 0, true);
  }
  set64(offset: number, value: bigint): void {
    this.#check(offset, 8);
    this.#view.setBigUint64(offset, BigInt.asUintN(64, value), true);
  }
  /** Device-side set/clear of bits in a 16-bit register. */
  update16(offset: number, set: number, clear: number): void {
    this.set16(offset, (this.get16(offset) & ~clear) | set);
  }

  /** Guest read: a copy of `length` bytes. Caller validates bounds. */
  read(offset: number, length: number): Uint8Array {
    this.#check(offset, length);
    return this.bytes.slice(offset, offset + length);
  }

  /**
   * Guest write: RW bits take the new value, RW1C bits clear where a 1 is written, other bits keep
   * their value. Listeners overlapping the range run afterwards, in registration order.
   */
  write(offset: number, data: Uint8Array): void {
    this.#check(offset, data.length);
    const end = offset + data.length;
    const touched = this.#listeners.filter((l) => l.start < end && offset < l.end);
    const snapshots = touched.map((l) => this.bytes.slice(l.start, l.end));
    for (let i = 0; i < data.length; i++) {
      const at = offset + i;
      const value = data[i] ?? 0;
      const rw = this.writable[at] ?? 0;
      const w1c = this.clearable[at] ?? 0;
      const old = this.bytes[at] ?? 0;
      this.bytes[at] = ((old & ~rw) | (value & rw)) & ~(value & w1c);
    }
    touched.forEach((l, i) => {
      l.fn({ offset, data, previous: snapshots[i] ?? new Uint8Array() });
    });
  }

  /** Runs `fn` after every guest write overlapping `[offset, offset + length)`. Returns an unsubscribe. */
  onWrite(offset: number, length: number, fn: WriteListener): () => void {
    this.#check(offset, length);
    const entry: ListenerEntry = { start: offset, end: offset + length, fn };
    this.#listeners.push(entry);
    return () => {
      const i = this.#listeners.indexOf(entry);
      if (i >= 0) this.#listeners.splice(i, 1);
    };
  }

  /** Records the current contents as the reset state. Called once the layout is complete. */
  captureDefaults(): void {
    this.#defaults = this.bytes.slice();
  }

  /** Restores the reset state, keeping sticky bits (PCIe 6.0 §7.4, §6.6.2). No listeners run. */
  reset(): void {
    const defaults = this.#defaults;
    if (!defaults) throw new Error('ConfigSpace.reset() before captureDefaults()');
    for (let i = 0; i < this.size; i++) {
      const keep = this.sticky[i] ?? 0;
      this.bytes[i] = ((defaults[i] ?? 0) & ~keep) | ((this.bytes[i] ?? 0) & keep);
    }
  }

  #check(offset: number, length: number): void {
    if (!Number.isInteger(offset) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new RangeError(`config access [${offset}, +${length}) outside ${this.size}-byte space`);
    }
  }
}

/**
 * The value a guest wrote to the register at `[offset, offset + width)`, with bytes it did not
 * write taken from `fallback` (typically the register's previous value).
 */
export function writtenValue(write: ConfigWrite, offset: number, width: RegisterWidth, fallback: number): number {
  let value = fallback;
  for (let i = 0; i < width; i++) {
    const at = offset + i - write.offset;
    const byte = write.data[at];
    if (at >= 0 && byte !== undefined) {
      value = (value & ~(0xff << (8 * i))) | (byte << (8 * i));
    }
  }
  return value >>> 0;
}

/** Whether the write touched any byte of `[offset, offset + width)`. */
export function writeTouches(write: ConfigWrite, offset: number, width: number): boolean {
  return write.offset < offset + width && offset < write.offset + write.data.length;
}
