/**
 * LBA formats and the per-namespace format state (NVM command set §4.1.5.1: LBAF, FLBAS, MC, DPC,
 * DPS): data size, metadata size, where the metadata travels and which protection information it holds.
 */

/** One LBA Format entry: LBADS (log2 of the data size) and MS (metadata bytes per block). */
export interface LbaFormat {
  readonly lbads: number;
  readonly ms: number;
}

/**
 * Supported LBA formats; the index is the FLBAS format number. 0 and 1 keep their meaning from
 * before metadata existed (images and FLBAS values stay valid); 2.. add metadata: 512+8, 4096+8
 * (room for exactly one protection information tuple) and 4096+64 (PI plus 56 bytes of host metadata).
 */
export const LBA_FORMATS: readonly LbaFormat[] = [
  { lbads: 9, ms: 0 },
  { lbads: 12, ms: 0 },
  { lbads: 9, ms: 8 },
  { lbads: 12, ms: 8 },
  { lbads: 12, ms: 64 },
];

/** End-to-end protection information type (DPS bits 2:0); 0 = none. */
export type ProtectionType = 0 | 1 | 2 | 3;

/** Bytes of one protection information tuple with the 16-bit guard (NVM command set §5.3.1). */
export const PI_TUPLE_BYTES = 8;

/** How a namespace is formatted: what Format NVM and Namespace Management choose. */
export interface NamespaceFormat {
  /** Index into {@link LBA_FORMATS}. */
  readonly lbaf: number;
  /** Metadata interleaved with each block in the data buffer (FLBAS bit 4); else through MPTR. */
  readonly extended: boolean;
  readonly pi: ProtectionType;
  /** PI in the first 8 metadata bytes (DPS bit 3); else in the last 8. */
  readonly piFirst: boolean;
}

/** Relative Performance (LBAF bits 25:24, 0 best): 4 KiB blocks best, metadata costs a little. */
function relativePerformance(f: LbaFormat): number {
  return (f.lbads === 12 ? 0 : 1) + (f.ms > 0 ? 1 : 0);
}

/** The 32-bit LBA Format descriptor of `f` (MS 15:0, LBADS 23:16, RP 25:24). */
export function lbaFormatDescriptor(f: LbaFormat): number {
  return (f.ms | (f.lbads << 16) | (relativePerformance(f) << 24)) >>> 0;
}

/** FLBAS byte: format number bits 3:0 (and 6:5 for 16..63), extended metadata bit 4. */
export function flbasOf(format: NamespaceFormat): number {
  return (format.lbaf & 0xf) | (((format.lbaf >>> 4) & 3) << 5) | (format.extended ? 0x10 : 0);
}

/** DPS byte: PI type bits 2:0, PI in the first 8 metadata bytes bit 3. */
export function dpsOf(format: NamespaceFormat): number {
  return format.pi | (format.pi !== 0 && format.piFirst ? 8 : 0);
}

/** MC: metadata as part of an extended LBA (bit 0) and in a separate buffer (bit 1). */
export const METADATA_CAPABILITIES = 0x03;
/** DPC: PI types 1, 2 and 3 (bits 2:0), PI in the first (bit 3) or last (bit 4) 8 metadata bytes. */
export const PROTECTION_CAPABILITIES = 0x1f;

/**
 * Why `format` cannot be used, or undefined when it can: an unknown format number, a PI type above
 * 3, or protection information on a format whose metadata cannot hold a tuple.
 */
export function formatProblem(format: NamespaceFormat): string | undefined {
  const f = LBA_FORMATS[format.lbaf];
  if (!f) return `LBA format ${format.lbaf} not supported (0..${LBA_FORMATS.length - 1})`;
  if (format.pi > 3) return `protection information type ${format.pi}`;
  if (format.pi !== 0 && f.ms < PI_TUPLE_BYTES) return `protection information needs metadata; LBA format ${format.lbaf} has ${f.ms} bytes`;
  return undefined;
}

/** The format of a namespace configured with these sizes; throws RangeError for a combination no LBA format offers. */
export function configuredFormat(o: {
  lbaSize?: number;
  metadataSize?: number;
  extendedLba?: boolean;
  protection?: { type: 1 | 2 | 3; location?: 'first' | 'last' };
}): NamespaceFormat {
  const lbads = Math.log2(o.lbaSize ?? 512);
  const ms = o.metadataSize ?? 0;
  const lbaf = LBA_FORMATS.findIndex((f) => f.lbads === lbads && f.ms === ms);
  if (lbaf < 0) throw new RangeError(`no LBA format with ${o.lbaSize ?? 512}-byte blocks and ${ms} bytes of metadata`);
  const format: NamespaceFormat = {
    lbaf,
    extended: ms > 0 && (o.extendedLba ?? false),
    pi: o.protection?.type ?? 0,
    piFirst: o.protection?.location === 'first',
  };
  const problem = formatProblem(format);
  if (problem) throw new RangeError(problem);
  return format;
}
