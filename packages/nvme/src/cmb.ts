import type { ResolvedOptions } from './options.ts';

/** CMBSZ.SZU units: 4 KiB, 64 KiB, 1 MiB, 16 MiB, 256 MiB, 4 GiB, 64 GiB (§3.1.4.11). */
const UNITS = [2 ** 12, 2 ** 16, 2 ** 20, 2 ** 24, 2 ** 28, 2 ** 32, 2 ** 36];

/** Prefers 1 MiB units (what QEMU and the verified prototype report), then coarser, then finer. */
const UNIT_PREFERENCE = [2, 3, 4, 5, 6, 1, 0];

function pickUnit(size: number, offset: number): number {
  for (const u of UNIT_PREFERENCE) {
    const unit = UNITS[u] as number;
    if (size % unit === 0 && offset % unit === 0 && size / unit <= 0xfffff) return u;
  }
  throw new RangeError('CMB size cannot be expressed in CMBSZ');
}

/**
 * Controller Memory Buffer registers and address window (NVMe 2.0 §3.1.4.10–14, §8.2.1).
 * The 1.4 scheme: CMBLOC/CMBSZ read 0 until CMBMSC.CRE; the window decodes once CMBMSC.CMSE is set.
 */
export class ControllerMemoryBuffer {
  readonly memory: Uint8Array;
  readonly size: number;
  private readonly cmbloc: number;
  private readonly cmbsz: number;
  private msc = 0n;
  private mscHigh = 0;
  private cbai = false;
  private barAddress: bigint | undefined;

  constructor(private readonly opts: NonNullable<ResolvedOptions['cmb']>) {
    this.memory = opts.memory;
    this.size = opts.memory.byteLength;
    const szu = pickUnit(this.size, opts.barOffset);
    const unit = UNITS[szu] as number;
    this.cmbloc = (opts.bar & 7) | ((opts.barOffset / unit) << 12);
    this.cmbsz =
      (opts.submissionQueues ? 1 : 0) |
      (opts.completionQueues ? 2 : 0) |
      (opts.lists ? 4 : 0) |
      0x8 | // RDS
      0x10 | // WDS
      (szu << 8) |
      ((this.size / unit) << 12);
  }

  get registersEnabled(): boolean {
    return (this.msc & 1n) !== 0n;
  }

  get supportsSubmissionQueues(): boolean {
    return this.opts.submissionQueues;
  }

  get supportsCompletionQueues(): boolean {
    return this.opts.completionQueues;
  }

  /**
   * Bus address of the window: CMBMSC.CBA once the guest set CMSE with a valid CBA; otherwise the
   * BAR address the PCI layer saw in config space (an access there reaches this memory anyway).
   */
  get busAddress(): bigint | undefined {
    if ((this.msc & 2n) !== 0n) return this.cbai ? undefined : this.msc & ~0xfffn;
    return this.barAddress === undefined ? undefined : this.barAddress + BigInt(this.opts.barOffset);
  }

  /** The BAR holding the CMB was (re)programmed; undefined when memory decoding is off. */
  setBarAddress(address: bigint | undefined): void {
    this.barAddress = address;
  }

  readCmbloc(): number {
    return this.registersEnabled ? this.cmbloc >>> 0 : 0;
  }

  readCmbsz(): number {
    return this.registersEnabled ? this.cmbsz >>> 0 : 0;
  }

  readMsc(high: boolean): number {
    return Number(high ? (this.msc >> 32n) & 0xffffffffn : this.msc & 0xffffffffn);
  }

  readSts(): number {
    return this.cbai ? 1 : 0;
  }

  /** High half: latched until the low half arrives (Linux writes 0x54 then 0x50). */
  writeMscHigh(value: number): void {
    this.mscHigh = value >>> 0;
  }

  /** Low half: CRE bit 0, CMSE bit 1, CBA bits 31:12; acts on the whole 64-bit value. */
  writeMscLow(value: number): void {
    const v = (BigInt(this.mscHigh) << 32n) | BigInt(((value >>> 0) & ~0xffc) >>> 0);
    const cmse = (v & 2n) !== 0n;
    const cba = v & ~0xfffn;
    this.cbai = cmse && cba + BigInt(this.size) > 1n << 64n;
    this.msc = v;
  }

  reset(): void {
    this.msc = 0n;
    this.mscHigh = 0;
    this.cbai = false;
  }
}
