/** Error Information log (Log Page 01h, NVMe 2.0 §5.16.1.2): a ring of 64-byte entries, newest first. */
export interface ErrorRecord {
  sqid: number;
  cid: number;
  /** 15-bit status field. */
  status: number;
  nsid?: number;
  lba?: bigint;
  /** Parameter error location: byte in bits 7:0, bit in 10:8. */
  location?: number;
}

export class ErrorLog {
  /** Lifetime error count (the entry's Error Count and SMART's "Number of Error Log Entries"). */
  count = 0n;
  private readonly ring: (ErrorRecord & { seq: bigint })[] = [];

  /** `capacity` = ELPE + 1. */
  constructor(readonly capacity: number) {}

  record(e: ErrorRecord): void {
    this.count += 1n;
    this.ring.unshift({ ...e, seq: this.count });
    if (this.ring.length > this.capacity) this.ring.pop();
  }

  page(): Uint8Array {
    const out = new Uint8Array(this.capacity * 64);
    const v = new DataView(out.buffer);
    this.ring.forEach((e, i) => {
      const o = i * 64;
      v.setBigUint64(o, e.seq, true);
      v.setUint16(o + 8, e.sqid, true);
      v.setUint16(o + 10, e.cid, true);
      v.setUint16(o + 12, (e.status & 0x7fff) << 1, true);
      v.setUint16(o + 14, e.location ?? 0xffff, true);
      v.setBigUint64(o + 16, e.lba ?? 0n, true);
      v.setUint32(o + 24, e.nsid ?? 0, true);
    });
    return out;
  }

  reset(): void {
    this.ring.length = 0;
  }
}
