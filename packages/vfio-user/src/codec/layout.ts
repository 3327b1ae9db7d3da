/**
 * A tiny field-table engine. A layout lists a struct's fields in wire order; vfio-user structs are
 * packed little-endian with no implicit padding, so each offset is the sum of the widths before it
 * (reserved bytes are explicit `pad` fields). `layout()` precompiles the table once into a plain
 * array of same-shaped field records, and encode/decode walk that array — no per-call closures.
 */
import { MalformedMessageError } from '../errors.ts';

const EMPTY = new Uint8Array(0);

/** Wire type of one field. */
type Kind = 'u8' | 'u16' | 'u32' | 'u64' | 'bytes' | 'pad';

interface Options {
  /** Encoders write the encoded byte length here, whatever the input says (header size, argsz). */
  readonly length?: boolean;
  /** Encoders wrap the value to the field width instead of refusing it (header id, flags, errno). */
  readonly wrap?: boolean;
  /** Decoders refuse a smaller value with MalformedMessageError. */
  readonly min?: number;
}

/** One field of a layout, as declared and (after layout()) with its offset. */
export interface Field<N extends string = string, K extends Kind = Kind, L extends boolean = boolean> {
  readonly name: N;
  readonly kind: K;
  /** Width in bytes. */
  readonly bytes: number;
  /** Offset from the start of the struct; set by layout(). */
  readonly offset: number;
  readonly length: L;
  readonly wrap: boolean;
  readonly min: number;
}

/** What follows the fixed fields: nothing, raw bytes (`data`), or NUL-terminated JSON (`json`). */
/** What follows the fixed fields: nothing, raw data, or NUL-terminated JSON. */
export type Tail = 'none' | 'data' | 'json';

export interface Layout<F extends readonly Field[] = readonly Field[], T extends Tail = Tail> {
  readonly name: string;
  readonly fields: F;
  /** Bytes the fixed fields span: the shortest valid payload, and the array stride. */
  readonly size: number;
  readonly tail: T;
  /** Every fixed byte is written by a field, so encoders may skip zero-filling. */
  readonly dense: boolean;
  /**
   * The decoded object's shape, cloned per decode: filling existing properties avoids a
   * hidden-class transition per field (adding them one by one measured ~20% slower).
   */
  readonly template: Readonly<Record<string, unknown>>;
}

const field = (name: string, kind: Kind, bytes: number, o?: Options): Field => ({
  name,
  kind,
  bytes,
  offset: 0,
  length: o?.length === true,
  wrap: o?.wrap === true,
  min: o?.min ?? 0,
});

function integer<K extends 'u8' | 'u16' | 'u32' | 'u64'>(kind: K, bytes: number) {
  return <const N extends string, const O extends Options = Options>(name: N, o?: O) =>
    field(name, kind, bytes, o) as Field<N, K, O['length'] extends true ? true : false>;
}

export const u8 = integer('u8', 1);
export const u16 = integer('u16', 2);
export const u32 = integer('u32', 4);
/** 64-bit fields decode to bigint. */
export const u64 = integer('u64', 8);
/** A fixed-size byte area inside the struct; decodes to a view, encodes at most `n` bytes. */
export const bytes = <const N extends string>(name: N, n: number) => field(name, 'bytes', n) as Field<N, 'bytes', false>;
/** Reserved bytes: written as zero, not decoded. */
export const pad = (n: number) => field('', 'pad', n) as Field<'', 'pad', false>;

export function layout<const F extends readonly Field[], const T extends Tail = 'none'>(name: string, fields: F, tail?: T): Layout<F, T> {
  let offset = 0;
  let dense = true;
  const template: Record<string, unknown> = {};
  const compiled = fields.map((f) => {
    const c: Field = { ...f, offset };
    offset += f.bytes;
    if (f.kind === 'pad' || f.kind === 'bytes') dense = false;
    if (f.kind !== 'pad') template[f.name] = f.kind === 'u64' ? 0n : f.kind === 'bytes' ? EMPTY : 0;
    return c;
  });
  if (tail === 'data') template.data = EMPTY;
  else if (tail === 'json') template.json = undefined;
  return { name, fields: compiled as unknown as F, size: offset, tail: tail ?? ('none' as T), dense, template };
}

type ValueOf<K> = K extends 'u64' ? bigint : K extends 'bytes' ? Uint8Array : number;

/** The decoded fixed fields of a layout. */
export type Fields<L extends Layout> = {
  [F in L['fields'][number] as F['kind'] extends 'pad' ? never : F['name']]: ValueOf<F['kind']>;
};
type TailOf<T> = T extends 'data' ? { data: Uint8Array } : T extends 'json' ? { json: unknown } : unknown;
/** What decodeFields returns: the fields plus the tail, if the layout has one. */
export type Decoded<L extends Layout> = Fields<L> & TailOf<L['tail']>;
type LengthNames<L extends Layout> = Extract<L['fields'][number], { length: true }>['name'];
/** What encoders take: `length` fields are computed, so optional. */
export type FieldInput<L extends Layout> = Omit<Fields<L>, LengthNames<L>> & Partial<Fields<L>>;

function truncated(p: Uint8Array, end: number, what: string): MalformedMessageError {
  return new MalformedMessageError(`${what}: payload of ${p.length} bytes, need ${end}`);
}

/**
 * Decode one struct at `at`, and the rest of `p` as its tail if it has one. Short payloads are
 * MalformedMessageError. The DataView is created and used only here, so the optimizer can drop
 * it (handing it to a helper made decodeHeader ~2× slower).
 */
export function decodeFields<L extends Layout>(l: L, p: Uint8Array, what: string = l.name, at = 0): Decoded<L> {
  const end = at + l.size;
  if (p.length < end) throw truncated(p, end, what);
  const v = new DataView(p.buffer, p.byteOffset, p.length);
  const out: Record<string, unknown> = { ...l.template };
  const fields = l.fields;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    const o = at + f.offset;
    let x: number;
    switch (f.kind) {
      case 'u8':
        x = v.getUint8(o);
        break;
      case 'u16':
        x = v.getUint16(o, true);
        break;
      case 'u32':
        x = v.getUint32(o, true);
        break;
      case 'u64':
        out[f.name] = v.getBigUint64(o, true);
        continue;
      case 'bytes':
        out[f.name] = p.subarray(o, o + f.bytes);
        continue;
      default:
        continue;
    }
    if (x < f.min) throw new MalformedMessageError(`${what}: ${f.name} ${x} < ${f.min}`);
    out[f.name] = x;
  }
  if (l.tail === 'data') out.data = p.subarray(end);
  else if (l.tail === 'json') out.json = decodeJson(p.subarray(end), what);
  return out as Decoded<L>;
}

/** Decode `n` consecutive structs starting at `at`, after one bounds check for all of them. */
export function decodeArray<L extends Layout>(l: L, p: Uint8Array, at: number, n: number, what: string = l.name): Fields<L>[] {
  if (p.length < at + n * l.size) throw truncated(p, at + n * l.size, what);
  const out: Fields<L>[] = [];
  for (let i = 0; i < n; i++) out.push(decodeFields(l, p, what, at + i * l.size));
  return out;
}

/** Write a struct's fields into `b` at `at`; `length` fields get `b.length`. */
export function encodeInto<L extends Layout>(l: L, values: FieldInput<L>, b: Buffer, at = 0): void {
  const fields = l.fields;
  const input = values as Record<string, unknown>;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    const o = at + f.offset;
    const x = input[f.name];
    switch (f.kind) {
      case 'u8':
        b.writeUInt8(f.wrap ? (x as number) & 0xff : (x as number), o);
        break;
      case 'u16':
        b.writeUInt16LE(f.length ? b.length : f.wrap ? (x as number) & 0xffff : (x as number), o);
        break;
      case 'u32':
        b.writeUInt32LE(f.length ? b.length : f.wrap ? (x as number) >>> 0 : (x as number), o);
        break;
      case 'u64':
        b.writeBigUInt64LE(f.length ? BigInt(b.length) : (x as bigint), o);
        break;
      case 'bytes': {
        const d = x as Uint8Array;
        b.set(d.length > f.bytes ? d.subarray(0, f.bytes) : d, o);
        break;
      }
    }
  }
}

/**
 * Encode a struct. `tail` is appended after the fixed fields: bytes to copy (a data tail, the
 * payload after a header), or a count of zeroed bytes to reserve for the caller to fill.
 */
export function encodeFields<L extends Layout>(l: L, values: FieldInput<L>, tail: Uint8Array | number = EMPTY): Buffer {
  const reserve = typeof tail === 'number';
  const n = l.size + (reserve ? tail : tail.length);
  // Only zero-fill when some byte is not written below: pads, short `bytes` fields, reserved tails.
  const b = l.dense && (!reserve || tail === 0) ? Buffer.allocUnsafe(n) : Buffer.alloc(n);
  encodeInto(l, values, b);
  if (!reserve) b.set(tail, l.size);
  return b;
}

/** Write consecutive structs into `b` starting at `at`. */
export function encodeArrayInto<L extends Layout>(l: L, items: readonly FieldInput<L>[], b: Buffer, at: number): void {
  for (let i = 0; i < items.length; i++) encodeInto(l, items[i]!, b, at + i * l.size);
}

/** A `json` tail: UTF-8 JSON, NUL-terminated (spec: VFIO_USER_VERSION). */
export const encodeJson = (value: unknown): Buffer => Buffer.from(`${JSON.stringify(value)}\0`, 'utf8');

/** Parse a `json` tail up to its NUL; blank text is `undefined`, anything unparsable MalformedMessageError. */
function decodeJson(p: Uint8Array, what: string): unknown {
  const text = Buffer.from(p.buffer, p.byteOffset, p.length).toString('utf8');
  const end = text.indexOf('\0');
  const json = end >= 0 ? text.slice(0, end) : text;
  if (!json.trim().length) return undefined;
  try {
    return JSON.parse(json);
  } catch {
    throw new MalformedMessageError(`${what}: not valid JSON`);
  }
}
