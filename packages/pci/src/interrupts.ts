/**
 * Interrupt delivery for an endpoint: MSI-X, then MSI, then INTx, following the client's SET_IRQS
 * state and the PCI gating rules (Bus Master Enable for messages, Interrupt Disable for INTx).
 */
import { type DeviceContext, IrqIndex } from '@p2pkit/base';
import type { MsiState } from './capabilities/msi.ts';
import type { MsixState } from './capabilities/msix.ts';
import type { CommandStatus } from './config/header.ts';

export type InterruptMode = 'msix' | 'msi' | 'intx' | 'none';

export interface InterruptSources {
  commandStatus: CommandStatus;
  /** Whether the function has an interrupt pin. */
  intx: boolean;
  msi?: MsiState | undefined;
  msix?: MsixState | undefined;
  context: () => DeviceContext | undefined;
}

export class InterruptController {
  readonly #s: InterruptSources;

  constructor(sources: InterruptSources) {
    this.#s = sources;
  }

  /** The mechanism `raise` uses now: the client enables MSI-X/MSI by binding eventfds (SET_IRQS). */
  get mode(): InterruptMode {
    const ctx = this.#s.context();
    if (ctx && this.#s.msix && ctx.irq.isEnabled(IrqIndex.MSIX)) return 'msix';
    if (ctx && this.#s.msi && ctx.irq.isEnabled(IrqIndex.MSI)) return 'msi';
    return this.#s.intx ? 'intx' : 'none';
  }

  /** Raises `vector`; returns whether the client was signalled. */
  raise(vector = 0): boolean {
    switch (this.mode) {
      case 'msix':
        return this.#raiseMsix(vector);
      case 'msi':
        return this.#raiseMsi(vector);
      case 'intx':
        return this.#assertIntx();
      case 'none':
        return false;
    }
  }

  /** Deasserts INTx. */
  lowerIntx(): void {
    this.#s.commandStatus.setInterruptStatus(false);
  }

  /**
   * Re-sends what became deliverable: pending MSI-X/MSI vectors after an unmask or Bus Master
   * Enable, and an asserted INTx after Interrupt Disable is cleared.
   */
  deliverPending(): void {
    const mode = this.mode;
    const { msix, msi, commandStatus } = this.#s;
    if (mode === 'msix' && msix) {
      for (const v of msix.pendingVectors()) if (!this.#raiseMsix(v)) break;
    } else if (mode === 'msi' && msi) {
      for (let v = 0; v < msi.vectors; v++) if (msi.isPending(v) && !msi.isMasked(v)) this.#raiseMsi(v);
    } else if (mode === 'intx' && commandStatus.interruptStatus) {
      this.#assertIntx();
    }
  }

  /** Forgets pending state (device reset). */
  reset(): void {
    this.lowerIntx();
    this.#s.msix?.reset();
    if (this.#s.msi) for (let v = 0; v < this.#s.msi.vectors; v++) this.#s.msi.setPending(v, false);
  }

  #raiseMsix(vector: number): boolean {
    const msix = this.#s.msix;
    const ctx = this.#s.context();
    if (!msix || !ctx) return false;
    if (!Number.isInteger(vector) || vector < 0 || vector >= msix.vectors) {
      throw new RangeError(`raise(${vector}): the MSI-X table has ${msix.vectors} vectors`);
    }
    // A masked (function mask) or blocked (BME clear) vector only sets its pending bit (PCI 3.0 §6.8.2.9).
    if (!this.#s.commandStatus.busMasterEnabled || msix.functionMasked) {
      msix.setPending(vector, true);
      return false;
    }
    const sent = ctx.irq.trigger(IrqIndex.MSIX, vector);
    msix.setPending(vector, !sent);
    return sent;
  }

  #raiseMsi(vector: number): boolean {
    const msi = this.#s.msi;
    const ctx = this.#s.context();
    if (!msi || !ctx) return false;
    if (!Number.isInteger(vector) || vector < 0 || vector >= msi.vectors) {
      throw new RangeError(`raise(${vector}): MSI has ${msi.vectors} vectors`);
    }
    // With fewer vectors allocated than requested, messages alias onto the allocated ones (PCI 3.0 §6.8.3.4).
    const v = vector & (msi.allocatedVectors - 1);
    if (!this.#s.commandStatus.busMasterEnabled || msi.isMasked(v)) {
      msi.setPending(v, true);
      return false;
    }
    msi.setPending(v, false);
    return ctx.irq.trigger(IrqIndex.MSI, v);
  }

  #assertIntx(): boolean {
    const { commandStatus } = this.#s;
    commandStatus.setInterruptStatus(true);
    if (commandStatus.interruptDisabled) return false;
    return this.#s.context()?.irq.trigger(IrqIndex.INTX, 0) ?? false;
  }
}
