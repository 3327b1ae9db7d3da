import type { ResolvedOptions } from './options.ts';

/**
 * Persistent Memory Region registers (NVMe 2.0 §3.1.4.15–21, §8.2.2).
 * PMRCTL.EN gates the region; disabling it flushes the backing store.
 */
export class PersistentMemoryRegion {
  readonly memory: Uint8Array;
  private enabled = false;
  private mscl = 0;
  private mscu = 0;
  private cbai = false;
  private barAddress: bigint | undefined;
  /** Failed flush sets PMRSTS.ERR; a host may read it. */
  private error = 0;

  constructor(private readonly opts: NonNullable<ResolvedOptions['pmr']>) {
    this.memory = opts.memory;
  }

  readCap(): number {
    return (
      0x8 | // RDS
      0x10 | // WDS
      ((this.opts.bar & 7) << 5) | // BIR
      (0 << 8) | // PMRTU: 500 ms
      (0x2 << 10) | // PMRWBM: a read of the PMR completes prior writes
      (10 << 16) | // PMRTO: 5 s
      (1 << 24) // CMSS: PMRMSC implemented
    );
  }

  readCtl(): number {
    return this.enabled ? 1 : 0;
  }

  readSts(): number {
    return (this.error & 0xff) | (this.enabled ? 0 : 1 << 8) | (this.cbai ? 1 << 12 : 0);
  }

  readMscl(): number {
    return this.mscl >>> 0;
  }

  readMscu(): number {
    return this.mscu >>> 0;
  }

  /** PMRCTL.EN. Returns the flush promise when disabling. */
  writeCtl(value: number): Promise<void> | undefined {
    const en = (value & 1) === 1;
    if (en === this.enabled) return undefined;
    this.enabled = en;
    return en ? undefined : this.flush();
  }

  writeMscu(value: number): void {
    this.mscu = value >>> 0;
  }

  writeMscl(value: number): void {
    this.mscl = ((value >>> 0) & ~0xffd) >>> 0;
    const cba = (BigInt(this.mscu) << 32n) | BigInt((this.mscl & ~0xfff) >>> 0);
    this.cbai = (this.mscl & 2) !== 0 && cba + BigInt(this.memory.byteLength) > 1n << 64n;
  }

  /** Bus address of the enabled region: PMRMSC.CBA with CMSE, else the BAR address from config space. */
  get busAddress(): bigint | undefined {
    if (!this.enabled) return undefined;
    if ((this.mscl & 2) === 0) return this.barAddress;
    if (this.cbai) return undefined;
    return (BigInt(this.mscu) << 32n) | BigInt((this.mscl & ~0xfff) >>> 0);
  }

  /** The PMR BAR was (re)programmed; undefined when memory decoding is off. */
  setBarAddress(address: bigint | undefined): void {
    this.barAddress = address;
  }

  async flush(): Promise<void> {
    try {
      await this.opts.flush();
      this.error = 0;
    } catch (err) {
      this.error = 1;
      throw err;
    }
  }

  /** Controller-level reset leaves PMR contents; registers go back to their defaults. */
  reset(): void {
    this.enabled = false;
    this.mscl = 0;
    this.mscu = 0;
    this.cbai = false;
  }
}
