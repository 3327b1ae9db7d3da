/** Advanced Error Reporting extended capability (PCIe 6.0 §7.8.4), version 2, for endpoints. */
import { ExtendedCapabilityId } from '../config/registers.ts';
import type { ConfigSpace } from '../config/space.ts';
import type { ExtendedCapability } from './capability.ts';

/** Register offsets inside the capability (Linux `PCI_ERR_*`). */
export const AerReg = {
  UNCOR_STATUS: 0x04,
  UNCOR_MASK: 0x08,
  UNCOR_SEVERITY: 0x0c,
  COR_STATUS: 0x10,
  COR_MASK: 0x14,
  CAP_CONTROL: 0x18,
  HEADER_LOG: 0x1c,
} as const;

/** Uncorrectable error bits (PCIe 6.0 §7.8.4.2). */
export const UncorrectableError = {
  DATA_LINK_PROTOCOL: 1 << 4,
  POISONED_TLP: 1 << 12,
  FLOW_CONTROL_PROTOCOL: 1 << 13,
  COMPLETION_TIMEOUT: 1 << 14,
  COMPLETER_ABORT: 1 << 15,
  UNEXPECTED_COMPLETION: 1 << 16,
  RECEIVER_OVERFLOW: 1 << 17,
  MALFORMED_TLP: 1 << 18,
  ECRC: 1 << 19,
  UNSUPPORTED_REQUEST: 1 << 20,
} as const;

/** Correctable error bits (PCIe 6.0 §7.8.4.5). */
export const CorrectableError = {
  RECEIVER: 1 << 0,
  BAD_TLP: 1 << 6,
  BAD_DLLP: 1 << 7,
  REPLAY_NUM_ROLLOVER: 1 << 8,
  REPLAY_TIMER_TIMEOUT: 1 << 12,
  ADVISORY_NON_FATAL: 1 << 13,
} as const;

const UNCOR_SUPPORTED = Object.values(UncorrectableError).reduce((a, b) => a | b, 0);
const COR_SUPPORTED = Object.values(CorrectableError).reduce((a, b) => a | b, 0);
/** Reset value of the severity register: DLP, FCP, Receiver Overflow, Malformed TLP are fatal. */
const UNCOR_SEVERITY_DEFAULT =
  UncorrectableError.DATA_LINK_PROTOCOL |
  UncorrectableError.FLOW_CONTROL_PROTOCOL |
  UncorrectableError.RECEIVER_OVERFLOW |
  UncorrectableError.MALFORMED_TLP;
const FIRST_ERROR_POINTER_MASK = 0x1f;

/** Outcome of recording an error, telling the caller what to signal. */
export type AerOutcome = 'masked' | 'correctable' | 'nonfatal' | 'fatal';

/** Runtime view of one installed AER capability. */
export interface AerState {
  readonly offset: number;
  /**
   * Records an uncorrectable error (one bit of {@link UncorrectableError}): sets its status bit and,
   * if it is the first unmasked one, the First Error Pointer and the 16-byte header log.
   */
  recordUncorrectable(error: number, headerLog?: Uint8Array): AerOutcome;
  /** Records a correctable error (one bit of {@link CorrectableError}). */
  recordCorrectable(error: number): AerOutcome;
}

export interface AerCapability extends ExtendedCapability<AerState> {
  readonly kind: 'aer';
}

const singleBit = (value: number, supported: number, what: string): number => {
  if (value === 0 || (value & (value - 1)) !== 0 || (value & supported) !== value)
    throw new RangeError(`${what}: ${value} is not one supported error bit`);
  return value;
};

/** Declares an AER capability (0x48 bytes, like QEMU's). Status, mask and severity registers are sticky. */
export function aer(): AerCapability {
  return {
    kind: 'aer',
    id: ExtendedCapabilityId.AER,
    version: 2,
    size: 0x48,
    install(space: ConfigSpace, offset: number): AerState {
      const at = (reg: number) => offset + reg;
      const all = 0xffff_ffff;
      space.define({ offset: at(AerReg.UNCOR_STATUS), width: 4, rw1c: UNCOR_SUPPORTED, sticky: all });
      space.define({ offset: at(AerReg.UNCOR_MASK), width: 4, rw: UNCOR_SUPPORTED, sticky: all });
      space.define({ offset: at(AerReg.UNCOR_SEVERITY), width: 4, value: UNCOR_SEVERITY_DEFAULT, rw: UNCOR_SUPPORTED, sticky: all });
      space.define({ offset: at(AerReg.COR_STATUS), width: 4, rw1c: COR_SUPPORTED, sticky: all });
      space.define({ offset: at(AerReg.COR_MASK), width: 4, value: CorrectableError.ADVISORY_NON_FATAL, rw: COR_SUPPORTED, sticky: all });
      // Capabilities and Control: First Error Pointer (ROS); no ECRC or multiple-header support.
      space.define({ offset: at(AerReg.CAP_CONTROL), width: 4, sticky: FIRST_ERROR_POINTER_MASK });
      for (let i = 0; i < 4; i++) space.define({ offset: at(AerReg.HEADER_LOG) + 4 * i, width: 4, sticky: all });

      const firstErrorPending = () => {
        const fep = space.get32(at(AerReg.CAP_CONTROL)) & FIRST_ERROR_POINTER_MASK;
        return (space.get32(at(AerReg.UNCOR_STATUS)) & (1 << fep)) !== 0;
      };
      return {
        offset,
        recordUncorrectable(error, headerLog) {
          singleBit(error, UNCOR_SUPPORTED, 'recordUncorrectable');
          const status = space.get32(at(AerReg.UNCOR_STATUS));
          const fepStillValid = status !== 0 && firstErrorPending();
          space.set32(at(AerReg.UNCOR_STATUS), status | error);
          if ((space.get32(at(AerReg.UNCOR_MASK)) & error) !== 0) return 'masked';
          if (!fepStillValid) {
            // First Error Pointer and header log describe the first unmasked error (PCIe 6.0 §6.2.4.2).
            const control = space.get32(at(AerReg.CAP_CONTROL)) & ~FIRST_ERROR_POINTER_MASK;
            space.set32(at(AerReg.CAP_CONTROL), control | Math.log2(error));
            const log = headerLog ?? new Uint8Array(16);
            for (let i = 0; i < 16; i++) space.set8(at(AerReg.HEADER_LOG) + i, log[i] ?? 0);
          }
          return (space.get32(at(AerReg.UNCOR_SEVERITY)) & error) !== 0 ? 'fatal' : 'nonfatal';
        },
        recordCorrectable(error) {
          singleBit(error, COR_SUPPORTED, 'recordCorrectable');
          space.set32(at(AerReg.COR_STATUS), space.get32(at(AerReg.COR_STATUS)) | error);
          return (space.get32(at(AerReg.COR_MASK)) & error) !== 0 ? 'masked' : 'correctable';
        },
      };
    },
  };
}
