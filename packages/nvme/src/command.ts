/** A 64-byte submission queue entry (NVMe 2.0 base §4.2, Figure 88), decoded lazily. */
export class SubmissionEntry {
  private readonly view: DataView;

  constructor(
    /** The raw entry; owned by this object. */
    readonly raw: Uint8Array,
    readonly sqid: number,
  ) {
    this.view = new DataView(raw.buffer, raw.byteOffset, 64);
  }

  /** Command dword `i` (0..15). */
  dw(i: number): number {
    return this.view.getUint32(i * 4, true);
  }

  get opcode(): number {
    return this.view.getUint8(0);
  }
  /** FUSE, CDW0 bits 9:8. */
  get fuse(): number {
    return (this.view.getUint8(1) >>> 0) & 3;
  }
  /** PSDT, CDW0 bits 15:14: 0 PRP, 1 SGL with contiguous metadata, 2 SGL with metadata SGL. */
  get psdt(): number {
    return (this.view.getUint8(1) >>> 6) & 3;
  }
  get cid(): number {
    return this.view.getUint16(2, true);
  }
  get nsid(): number {
    return this.view.getUint32(4, true);
  }
  get mptr(): bigint {
    return this.view.getBigUint64(16, true);
  }
  get prp1(): bigint {
    return this.view.getBigUint64(24, true);
  }
  get prp2(): bigint {
    return this.view.getBigUint64(32, true);
  }
  /** DPTR as the 16-byte SGL1 descriptor. */
  get sgl1(): Uint8Array {
    return this.raw.subarray(24, 40);
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
    return this.view.getBigUint64(40, true);
  }
  get isAdmin(): boolean {
    return this.sqid === 0;
  }
}
