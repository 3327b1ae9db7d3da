import type { ControllerMemoryBuffer } from './cmb.ts';
import type { InterruptController } from './interrupts.ts';
import type { ResolvedOptions } from './options.ts';
import type { PersistentMemoryRegion } from './pmr.ts';
import { Csts, cc, NSSR_MAGIC, Reg } from './registers.ts';

/** Side effects of register writes, implemented by the controller. */
export interface RegisterEffects {
  /** CC was written (state transitions, §3.5). `cc` already holds the new value. */
  ccWritten(old: number, value: number): void;
  subsystemReset(): void;
  /** Doorbell `index` = (offset − 1000h) / stride. */
  doorbell(index: number, value: number): void;
  guestError(message: string, detail?: Record<string, unknown>): void;
  deviceError(message: string, detail?: Record<string, unknown>): void;
}

/** BAR0 register decode (NVMe 2.0 base §3.1.4): storage for CC/CSTS/AQA/ASQ/ACQ, dispatch for the rest. */
export class RegisterFile {
  cc = 0;
  csts = 0;
  aqa = 0;
  asq = 0n;
  acq = 0n;

  constructor(
    private readonly cap: bigint,
    private readonly options: ResolvedOptions,
    private readonly interrupts: InterruptController,
    private readonly cmb: ControllerMemoryBuffer | undefined,
    private readonly pmr: PersistentMemoryRegion | undefined,
    private readonly fx: RegisterEffects,
  ) {}

  /** Sizes 1, 2, 4, 8; sub-dword reads return the addressed bytes of the dword. */
  read(offset: number, size: number): bigint {
    if (size === 8) return BigInt(this.read32(offset)) | (BigInt(this.read32(offset + 4)) << 32n);
    const dword = this.read32(offset & ~3);
    const shift = (offset & 3) * 8;
    return BigInt(size >= 4 ? dword : (dword >>> shift) & ((1 << (size * 8)) - 1));
  }

  /** 8-byte writes act high dword first, then low (the CMBMSC/PMRMSC rule, §3.1.4.13). */
  write(offset: number, size: number, value: bigint): void {
    if (size === 8) {
      this.write32(offset + 4, Number((value >> 32n) & 0xffffffffn));
      this.write32(offset, Number(value & 0xffffffffn));
      return;
    }
    const v = Number(value & 0xffffffffn);
    if (size === 4 || offset >= Reg.DOORBELLS) {
      this.write32(offset & ~3, size === 4 ? v : v & ((1 << (size * 8)) - 1));
      return;
    }
    const shift = (offset & 3) * 8;
    const mask = ((1 << (size * 8)) - 1) << shift;
    this.write32(offset & ~3, ((this.read32(offset & ~3) & ~mask) | ((v << shift) & mask)) >>> 0);
  }

  private read32(off: number): number {
    const cmb = this.cmb;
    const pmr = this.pmr;
    switch (off) {
      case Reg.CAP:
        return Number(this.cap & 0xffffffffn);
      case Reg.CAP + 4:
        return Number(this.cap >> 32n);
      case Reg.VS:
        return this.options.version;
      case Reg.INTMS:
      case Reg.INTMC:
        return this.interrupts.interruptMask;
      case Reg.CC:
        return this.cc >>> 0;
      case Reg.CSTS:
        return this.csts >>> 0;
      case Reg.AQA:
        return this.aqa;
      case Reg.ASQ:
        return Number(this.asq & 0xffffffffn);
      case Reg.ASQ + 4:
        return Number(this.asq >> 32n);
      case Reg.ACQ:
        return Number(this.acq & 0xffffffffn);
      case Reg.ACQ + 4:
        return Number(this.acq >> 32n);
      case Reg.CMBLOC:
        return cmb?.readCmbloc() ?? 0;
      case Reg.CMBSZ:
        return cmb?.readCmbsz() ?? 0;
      case Reg.CMBMSC:
        return cmb?.readMsc(false) ?? 0;
      case Reg.CMBMSC + 4:
        return cmb?.readMsc(true) ?? 0;
      case Reg.CMBSTS:
        return cmb?.readSts() ?? 0;
      case Reg.CRTO:
        return this.options.readyTimeoutUnits * 0x10001;
      case Reg.PMRCAP:
        return pmr?.readCap() ?? 0;
      case Reg.PMRCTL:
        return pmr?.readCtl() ?? 0;
      case Reg.PMRSTS:
        return pmr?.readSts() ?? 0;
      case Reg.PMRMSCL:
        return pmr?.readMscl() ?? 0;
      case Reg.PMRMSCU:
        return pmr?.readMscu() ?? 0;
      default:
        return 0; // reserved, NSSR, doorbells (write-only)
    }
  }

  private write32(off: number, v: number): void {
    if (off >= Reg.DOORBELLS) return this.writeDoorbell(off, v);
    const disabled = cc.en(this.cc) === 0;
    switch (off) {
      case Reg.INTMS:
        return this.interrupts.setMask(v);
      case Reg.INTMC:
        return this.interrupts.clearMask(v);
      case Reg.CC: {
        const old = this.cc;
        this.cc = v >>> 0;
        return this.fx.ccWritten(old, this.cc);
      }
      case Reg.CSTS:
        if (v & Csts.NSSRO) this.csts &= ~Csts.NSSRO; // RW1C
        return;
      case Reg.NSSR:
        if (v >>> 0 === NSSR_MAGIC) this.fx.subsystemReset();
        return;
      case Reg.AQA:
      case Reg.ASQ:
      case Reg.ASQ + 4:
      case Reg.ACQ:
      case Reg.ACQ + 4:
        if (!disabled) return this.fx.guestError('admin queue registers written while CC.EN = 1', { offset: off });
        if (off === Reg.AQA) this.aqa = v & 0x0fff0fff;
        else if (off === Reg.ASQ) this.asq = (this.asq & ~0xffffffffn) | BigInt(((v >>> 0) & ~0xfff) >>> 0);
        else if (off === Reg.ASQ + 4) this.asq = (this.asq & 0xffffffffn) | (BigInt(v >>> 0) << 32n);
        else if (off === Reg.ACQ) this.acq = (this.acq & ~0xffffffffn) | BigInt(((v >>> 0) & ~0xfff) >>> 0);
        else this.acq = (this.acq & 0xffffffffn) | (BigInt(v >>> 0) << 32n);
        if ((off === Reg.ASQ || off === Reg.ACQ) && v & 0xfff)
          this.fx.guestError('admin queue base not 4 KiB aligned', { offset: off, value: v });
        return;
      case Reg.CMBMSC:
        return this.cmb?.writeMscLow(v);
      case Reg.CMBMSC + 4:
        return this.cmb?.writeMscHigh(v);
      case Reg.PMRCTL: {
        const flushing = this.pmr?.writeCtl(v);
        flushing?.catch((err: unknown) => this.fx.deviceError('PMR flush failed', { error: err }));
        return;
      }
      case Reg.PMRMSCL:
        return this.pmr?.writeMscl(v);
      case Reg.PMRMSCU:
        return this.pmr?.writeMscu(v);
      default:
        return this.fx.guestError('write to a read-only or reserved register', { offset: off, value: v });
    }
  }

  private writeDoorbell(off: number, v: number): void {
    const rel = off - Reg.DOORBELLS;
    const stride = 4 << this.options.doorbellStrideShift;
    if (rel % stride !== 0) return this.fx.guestError('doorbell write off the stride', { offset: off });
    this.fx.doorbell(rel / stride, v & 0xffff);
  }
}
