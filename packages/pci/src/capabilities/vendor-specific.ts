/** Vendor-specific capability (PCI 3.0 §6.8.3 / Code and ID Assignment: ID 0x09). */
import { CapabilityId } from '../config/registers.ts';
import type { ConfigSpace } from '../config/space.ts';
import type { Capability } from './capability.ts';

export interface VendorSpecificState {
  readonly offset: number;
  /** Offset of the first payload byte (after ID, next and length). */
  readonly payloadOffset: number;
}

export interface VendorSpecificCapability extends Capability<VendorSpecificState> {
  readonly kind: 'vendor-specific';
}

export interface VendorSpecificOptions {
  /** Bit masks, same length as the payload, of bytes the guest may write (default: read-only). */
  writable?: Uint8Array;
}

/** Declares a vendor-specific capability carrying `payload` (byte 2 holds the total length). */
export function vendorSpecific(payload: Uint8Array, options: VendorSpecificOptions = {}): VendorSpecificCapability {
  const size = 3 + payload.length;
  if (size > 0xff) throw new RangeError(`vendor-specific payload of ${payload.length} bytes exceeds the 8-bit length`);
  if (options.writable && options.writable.length !== payload.length) {
    throw new RangeError('vendorSpecific: `writable` must be as long as the payload');
  }
  const data = payload.slice();
  const writable = options.writable?.slice();
  return {
    kind: 'vendor-specific',
    id: CapabilityId.VENDOR_SPECIFIC,
    size,
    install(space: ConfigSpace, offset: number): VendorSpecificState {
      space.define({ offset: offset + 2, width: 1, value: size });
      data.forEach((byte, i) => {
        space.define({ offset: offset + 3 + i, width: 1, value: byte, rw: writable?.[i] ?? 0 });
      });
      return { offset, payloadOffset: offset + 3 };
    },
  };
}
