/**
 * End-to-end data protection (NVM command set §5.3) with the 16-bit guard: the PI tuple of each
 * logical block — guard (CRC-16 T10-DIF), application tag, reference tag, big-endian — generated
 * when the host asks the controller to (PRACT) and checked as PRCHK selects.
 */
import type { SubmissionEntry } from '../command.ts';
import { CommandError } from '../command-error.ts';
import { LBA_FORMATS, type NamespaceFormat, PI_TUPLE_BYTES, type ProtectionType } from '../lba-format.ts';
import { Status } from '../status.ts';
import { crc16T10Dif } from './crc16.ts';

/** PRCHK bits (CDW12 bits 28:26 of Read/Write/Compare/Verify, as bits 2:0 here). */
const Prchk = { Guard: 4, ApplicationTag: 2, ReferenceTag: 1 } as const;

/** The protection fields of a command: PRINFO (CDW12 29:26), ILBRT/EILBRT (CDW14), LBAT/LBATM (CDW15). */
export interface ProtectionFields {
  /** Protection Information Action: the controller inserts PI (write) or strips it (read). */
  pract: boolean;
  /** Which checks to perform ({@link Prchk} bits). */
  prchk: number;
  /** (Expected) Initial Logical Block Reference Tag. */
  ilbrt: number;
  /** (Expected) Logical Block Application Tag. */
  lbat: number;
  /** Logical Block Application Tag Mask: which bits of the application tag are checked. */
  lbatm: number;
}

/** Decodes the protection fields of `entry` (Copy's PRINFOW sits where Write's PRINFO does). */
export function protectionFieldsOf(entry: SubmissionEntry): ProtectionFields {
  return {
    pract: ((entry.cdw12 >>> 29) & 1) === 1,
    prchk: (entry.cdw12 >>> 26) & 7,
    ilbrt: entry.cdw14 >>> 0,
    lbat: entry.cdw15 & 0xffff,
    lbatm: entry.cdw15 >>> 16,
  };
}

/** How a namespace lays its blocks out for protection. */
export interface ProtectionLayout {
  type: Exclude<ProtectionType, 0>;
  lbaSize: number;
  /** Metadata bytes per block. */
  ms: number;
  /** Offset of the PI tuple in each block's metadata (0: first 8 bytes; ms − 8: last). */
  piOffset: number;
}

/** The protection layout of `format`, or undefined when it has no protection information. */
export function protectionLayout(format: NamespaceFormat): ProtectionLayout | undefined {
  const f = LBA_FORMATS[format.lbaf];
  if (format.pi === 0 || !f) return undefined;
  return { type: format.pi, lbaSize: 1 << f.lbads, ms: f.ms, piOffset: format.piFirst ? 0 : f.ms - PI_TUPLE_BYTES };
}

/**
 * Type 1 ties the reference tag to the LBA: with reference tag checking, ILBRT must be the low 32
 * bits of SLBA, else Invalid Protection Information.
 */
export function requireConsistentReferenceTag(layout: ProtectionLayout, fields: ProtectionFields, slba: bigint): void {
  if (layout.type !== 1 || (fields.prchk & Prchk.ReferenceTag) === 0) return;
  const low = Number(slba & 0xffffffffn);
  if (fields.ilbrt !== low) {
    throw new CommandError(
      Status.InvalidProtectionInformation,
      `type 1 ILBRT 0x${fields.ilbrt.toString(16)} ≠ SLBA low bits 0x${low.toString(16)}`,
    );
  }
}

/** The reference tag of the `i`-th block of the command: LBA low bits (type 1), ILBRT + i (type 2), ILBRT (type 3). */
function referenceTag(layout: ProtectionLayout, fields: ProtectionFields, slba: bigint, i: number): number {
  if (layout.type === 1) return Number((slba + BigInt(i)) & 0xffffffffn);
  if (layout.type === 2) return (fields.ilbrt + i) >>> 0;
  return fields.ilbrt;
}

/** The guard of block `i`: its data and, with PI in the last bytes, the metadata before the tuple. */
function guardOf(layout: ProtectionLayout, data: Uint8Array, meta: Uint8Array, i: number): number {
  const crc = crc16T10Dif(data.subarray(i * layout.lbaSize, (i + 1) * layout.lbaSize));
  const m = i * layout.ms;
  return layout.piOffset === 0 ? crc : crc16T10Dif(meta.subarray(m, m + layout.piOffset), crc);
}

/** PRACT on a write: fills the PI tuple of every block in `meta` (`data` holds the blocks). */
export function generateProtection(
  layout: ProtectionLayout,
  fields: ProtectionFields,
  slba: bigint,
  data: Uint8Array,
  meta: Uint8Array,
): void {
  const view = new DataView(meta.buffer, meta.byteOffset, meta.byteLength);
  const blocks = data.byteLength / layout.lbaSize;
  for (let i = 0; i < blocks; i++) {
    const at = i * layout.ms + layout.piOffset;
    view.setUint16(at, guardOf(layout, data, meta, i));
    view.setUint16(at + 2, fields.lbat);
    view.setUint32(at + 4, referenceTag(layout, fields, slba, i));
  }
}

/**
 * The PRCHK checks of every block, in guard → application tag → reference tag order; throws the
 * End-to-end Guard / Application Tag / Reference Tag Check Error of the first block that fails.
 * An application tag of FFFFh (types 1, 2), or FFFFh with a reference tag of FFFFFFFFh (type 3),
 * disables checking of that block — what deallocated blocks read back.
 */
export function checkProtection(
  layout: ProtectionLayout,
  fields: ProtectionFields,
  slba: bigint,
  data: Uint8Array,
  meta: Uint8Array,
): void {
  if (fields.prchk === 0) return;
  const view = new DataView(meta.buffer, meta.byteOffset, meta.byteLength);
  const blocks = data.byteLength / layout.lbaSize;
  for (let i = 0; i < blocks; i++) {
    const at = i * layout.ms + layout.piOffset;
    const guard = view.getUint16(at);
    const appTag = view.getUint16(at + 2);
    const refTag = view.getUint32(at + 4);
    if (appTag === 0xffff && (layout.type !== 3 || refTag === 0xffffffff)) continue;
    const lba = Number(slba) + i;
    if (fields.prchk & Prchk.Guard) {
      const want = guardOf(layout, data, meta, i);
      if (guard !== want) {
        throw new CommandError(Status.EndToEndGuardCheckError, `LBA ${lba}: guard 0x${hex(guard)}, data has 0x${hex(want)}`, true, { lba });
      }
    }
    if (fields.prchk & Prchk.ApplicationTag && ((appTag ^ fields.lbat) & fields.lbatm) !== 0) {
      throw new CommandError(
        Status.EndToEndApplicationTagCheckError,
        `LBA ${lba}: application tag 0x${hex(appTag)}, expected 0x${hex(fields.lbat)} under mask 0x${hex(fields.lbatm)}`,
        true,
        { lba },
      );
    }
    if (fields.prchk & Prchk.ReferenceTag && layout.type !== 3) {
      const want = referenceTag(layout, fields, slba, i);
      if (refTag !== want) {
        throw new CommandError(
          Status.EndToEndReferenceTagCheckError,
          `LBA ${lba}: reference tag 0x${hex(refTag)}, expected 0x${hex(want)}`,
          true,
          {
            lba,
          },
        );
      }
    }
  }
}

function hex(n: number): string {
  return n.toString(16);
}
