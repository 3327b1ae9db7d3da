import { SQE_SIZE_LOG } from './registers.ts';

/** Bytes in a submission queue entry (CC.IOSQES = 6). */
export const SQE_BYTES = 1 << SQE_SIZE_LOG;

/** Byte offsets of the submission entry fields (NVMe 2.0 base §4.2, Figure 88). */
const Field = { opcode: 0, flags: 1, cid: 2, nsid: 4, mptr: 16, dptr: 24, prp2: 32, cdw10: 40 } as const;

/** A 64-byte submission queue entry (NVMe 2.0 base §4.2, Figure 88), decoded lazily. */
export class SubmissionEntry {
  private readonly view: DataView;

  constructor(
    /** The raw entry; owned by this object. */
    readonly raw: Uint8Array,
    readonly sqid: number,
  ) {
    this.view = new DataView(raw.buffer, raw.byteOffset, SQE_BYTES);
  }

  /** Command dword `i` (0..15). */
  dw(i: number): number {
    return this.view.getUint32(i * 4, true);
  }

  get opcode(): number {
    return this.view.getUint8(Field.opcode);
  }
  /** FUSE, CDW0 bits 9:8. */
  get fuse(): number {
    return this.view.getUint8(Field.flags) & 3;
  }
  /** PSDT, CDW0 bits 15:14: 0 PRP, 1 SGL with contiguous metadata, 2 SGL with metadata SGL. */
  get psdt(): number {
    return (this.view.getUint8(Field.flags) >>> 6) & 3;
  }
  get cid(): number {
    return this.view.getUint16(Field.cid, true);
  }
  get nsid(): number {
    return this.view.getUint32(Field.nsid, true);
  }
  get mptr(): bigint {
    return this.view.getBigUint64(Field.mptr, true);
  }
  get prp1(): bigint {
    return this.view.getBigUint64(Field.dptr, true);
  }
  get prp2(): bigint {
    return this.view.getBigUint64(Field.prp2, true);
  }
  /** DPTR as the 16-byte SGL1 descriptor. */
  get sgl1(): Uint8Array {
    return this.raw.subarray(Field.dptr, Field.dptr + 16);
  }
  get cdw10(): number {
    return this.dw(10);
  }
  get cdw11(): number {
    return this.dw(11);
  }
  get cdw12(): number {
    return this.dw(12);
  }
  get cdw13(): number {
    return this.dw(13);
  }
  get cdw14(): number {
    return this.dw(14);
  }
  get cdw15(): number {
    return this.dw(15);
  }
  /** CDW10–11 as a 64-bit value (SLBA and friends). */
  get qw10(): bigint {
    return this.view.getBigUint64(Field.cdw10, true);
  }
  get isAdmin(): boolean {
    return this.sqid === 0;
  }
}

/** The fields of a submission entry to build (host side: a test driver). Absent fields are zero. */
export interface SubmissionFields {
  opcode: number;
  /** Command Identifier. */
  cid: number;
  /** CDW0 bits 15:8: FUSE in bits 1:0, PSDT in bits 7:6 (01b: SGL). */
  flags?: number;
  nsid?: number;
  /** Metadata pointer (MPTR). */
  mptr?: bigint;
  prp1?: bigint;
  prp2?: bigint;
  /** The 16-byte DPTR as SGL1 (see PSDT); replaces `prp1`/`prp2`. */
  sgl?: Uint8Array;
  cdw10?: number;
  cdw11?: number;
  cdw12?: number;
  cdw13?: number;
  cdw14?: number;
  cdw15?: number;
}

/**
 * Encodes a submission entry (host side: a test driver) with the layout {@link SubmissionEntry}
 * decodes, at byte `at` of `view`, with CID `cid` and CDW0 flags `flags` (`fields.cid` and
 * `fields.flags` are not read): one view of a whole SQ ring serves every slot, so the driver
 * allocates nothing per command.
 */
export function writeSubmission(view: DataView, at: number, fields: Omit<SubmissionFields, 'cid'>, cid: number, flags: number): void {
  if (at < 0 || at + SQE_BYTES > view.byteLength) throw new RangeError(`submission entry at ${at} outside a ${view.byteLength}-byte view`);
  view.setUint8(at + Field.opcode, fields.opcode);
  view.setUint8(at + Field.flags, flags);
  view.setUint16(at + Field.cid, cid, true);
  view.setUint32(at + Field.nsid, (fields.nsid ?? 0) >>> 0, true);
  view.setUint32(at + 8, 0, true); // CDW2–3: reserved
  view.setUint32(at + 12, 0, true);
  view.setBigUint64(at + Field.mptr, fields.mptr ?? 0n, true);
  if (fields.sgl) {
    if (fields.sgl.length !== 16) throw new RangeError(`SGL1 is 16 bytes, got ${fields.sgl.length}`);
    new Uint8Array(view.buffer, view.byteOffset + at + Field.dptr, 16).set(fields.sgl);
  } else {
    view.setBigUint64(at + Field.dptr, fields.prp1 ?? 0n, true);
    view.setBigUint64(at + Field.prp2, fields.prp2 ?? 0n, true);
  }
  view.setUint32(at + Field.cdw10, (fields.cdw10 ?? 0) >>> 0, true);
  view.setUint32(at + Field.cdw10 + 4, (fields.cdw11 ?? 0) >>> 0, true);
  view.setUint32(at + Field.cdw10 + 8, (fields.cdw12 ?? 0) >>> 0, true);
  view.setUint32(at + Field.cdw10 + 12, (fields.cdw13 ?? 0) >>> 0, true);
  view.setUint32(at + Field.cdw10 + 16, (fields.cdw14 ?? 0) >>> 0, true);
  view.setUint32(at + Field.cdw10 + 20, (fields.cdw15 ?? 0) >>> 0, true);
}
