/**
 * Capability descriptors. A descriptor is an immutable declaration shared by every instance of an
 * endpoint; `install` writes it into one config space and returns that instance's runtime state.
 */
import type { ConfigSpace } from '../config/space.ts';

/** A capability in the standard list at 0x40..0xff (PCI 3.0 §6.7). */
export interface Capability<State = unknown> {
  readonly kind: string;
  /** Capability ID (byte 0). */
  readonly id: number;
  /** Bytes occupied, including the 2-byte ID/next header. */
  readonly size: number;
  /**
   * Writes the registers after the header (`offset + 2` onwards) and registers write listeners.
   * The builder has already written the ID and next pointer.
   */
  install(space: ConfigSpace, offset: number): State;
}

/** A capability in the extended list at 0x100..0xfff (PCIe 6.0 §7.6.3). */
export interface ExtendedCapability<State = unknown> {
  readonly kind: string;
  /** Extended capability ID (bits 15:0 of the header). */
  readonly id: number;
  /** Capability version (bits 19:16). */
  readonly version: number;
  /** Bytes occupied, including the 4-byte header; a multiple of 4. */
  readonly size: number;
  /** Writes the registers after the header (`offset + 4` onwards). */
  install(space: ConfigSpace, offset: number): State;
}
