/** PCI Power Management capability (PCI Bus Power Management Interface 1.2 §3.2, PCIe 6.0 §7.5.2). */
import { CapabilityId } from '../config/registers.ts';
import type { ConfigSpace } from '../config/space.ts';
import type { Capability } from './capability.ts';

/** PMCSR.PowerState values. */
export type PowerState = 0 | 1 | 2 | 3;

export interface PowerManagementOptions {
  /** Supports D1 / D2 (default false: D0 and D3hot only). */
  d1?: boolean;
  d2?: boolean;
  /**
   * No_Soft_Reset (default true): D3hot → D0 keeps device state, so the OS need not re-initialise
   * the function. Matches what QEMU's emulated PCIe devices report.
   */
  noSoftReset?: boolean;
  /** PME_Support bits 15:11 of PMC (states the function can assert PME# from). Default 0. */
  pmeSupport?: number;
}

/** Runtime view of one installed PM capability. */
export interface PowerManagementState {
  readonly offset: number;
  /** Current D-state as programmed by the guest. */
  readonly powerState: PowerState;
  /** Whether D3hot → D0 keeps state; when false the function resets internally (PM 1.2 §5.4.1). */
  readonly noSoftReset: boolean;
  /** Calls `listener` when the guest changes the D-state. */
  onPowerState(listener: (state: PowerState, previous: PowerState) => void): () => void;
}

export interface PowerManagementCapability extends Capability<PowerManagementState> {
  readonly kind: 'power-management';
}

const PMC = 2;
const PMCSR = 4;
const PMCSR_STATE_MASK = 0x3;
const PMCSR_NO_SOFT_RESET = 1 << 3;
const PMCSR_PME_ENABLE = 1 << 8;
const PMCSR_PME_STATUS = 1 << 15;

/** Declares a Power Management capability (version 3, 8 bytes). */
export function powerManagement(options: PowerManagementOptions = {}): PowerManagementCapability {
  const pmc = 0x3 | (options.d1 ? 1 << 9 : 0) | (options.d2 ? 1 << 10 : 0) | (((options.pmeSupport ?? 0) & 0x1f) << 11);
  return {
    kind: 'power-management',
    id: CapabilityId.POWER_MANAGEMENT,
    size: 8,
    install(space: ConfigSpace, offset: number): PowerManagementState {
      space.define({ offset: offset + PMC, width: 2, value: pmc });
      const hasPme = (options.pmeSupport ?? 0) !== 0;
      space.define({
        offset: offset + PMCSR,
        width: 2,
        value: (options.noSoftReset ?? true) ? PMCSR_NO_SOFT_RESET : 0,
        rw: PMCSR_STATE_MASK | (hasPme ? PMCSR_PME_ENABLE : 0),
        rw1c: hasPme ? PMCSR_PME_STATUS : 0,
        // PME_En and PME_Status are sticky when PME is supported from D3cold; keep them (PM 1.2 §3.2.4).
        sticky: hasPme ? PMCSR_PME_ENABLE | PMCSR_PME_STATUS : 0,
      });
      space.define({ offset: offset + 6, width: 2 }); // PMCSR_BSE and Data: unused
      const listeners = new Set<(state: PowerState, previous: PowerState) => void>();
      const read = (): PowerState => (space.get16(offset + PMCSR) & PMCSR_STATE_MASK) as PowerState;
      space.onWrite(offset + PMCSR, 2, (write) => {
        const before = ((write.previous[0] ?? 0) & PMCSR_STATE_MASK) as PowerState;
        let after = read();
        // Writes of an unsupported state are ignored (PM 1.2 §3.2.4).
        if ((after === 1 && !options.d1) || (after === 2 && !options.d2)) {
          space.update16(offset + PMCSR, before, PMCSR_STATE_MASK);
          after = before;
        }
        if (after !== before) for (const l of listeners) l(after, before);
      });
      return {
        offset,
        noSoftReset: options.noSoftReset ?? true,
        get powerState() {
          return read();
        },
        onPowerState(listener) {
          listeners.add(listener);
          return () => listeners.delete(listener);
        },
      };
    },
  };
}
