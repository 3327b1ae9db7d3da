/** Device Serial Number extended capability (PCIe 6.0 §7.9.3): a read-only EUI-64. */
import { ExtendedCapabilityId } from '../config/registers.ts';
import type { ConfigSpace } from '../config/space.ts';
import type { ExtendedCapability } from './capability.ts';

export interface SerialNumberState {
  readonly offset: number;
  readonly serial: bigint;
}

export interface SerialNumberCapability extends ExtendedCapability<SerialNumberState> {
  readonly kind: 'serial-number';
  readonly serial: bigint;
}

/** Declares a Device Serial Number capability holding the 64-bit `serial`. */
export function serialNumber(serial: bigint): SerialNumberCapability {
  if (serial < 0n || serial > 0xffff_ffff_ffff_ffffn) throw new RangeError('serialNumber: serial must fit in 64 bits');
  return {
    kind: 'serial-number',
    id: ExtendedCapabilityId.DEVICE_SERIAL_NUMBER,
    version: 1,
    size: 12,
    serial,
    install(space: ConfigSpace, offset: number): SerialNumberState {
      space.define({ offset: offset + 4, width: 4, value: Number(serial & 0xffff_ffffn) });
      space.define({ offset: offset + 8, width: 4, value: Number(serial >> 32n) });
      return { offset, serial };
    },
  };
}
