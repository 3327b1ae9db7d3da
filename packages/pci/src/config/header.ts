/**
 * The type-0 configuration header (PCI 3.0 §6.1, PCIe 6.0 §7.5.1), declared as a register table.
 * BARs are handled by `bars.ts` and the capability pointer by `capability-list.ts`.
 */

import { type InterruptPin, PciCommand, PciHeader, PciStatus, STATUS_RW1C } from './registers.ts';
import type { ConfigSpace, RegisterSpec } from './space.ts';

/** Identity of a function. */
export interface PciIds {
  vendor: number;
  device: number;
  /** 24-bit class code: base class << 16 | subclass << 8 | programming interface. */
  class: number;
  revision?: number;
  /** Defaults to `vendor`. */
  subsystemVendor?: number;
  /** Defaults to `device`. */
  subsystem?: number;
}

export interface HeaderOptions {
  ids: PciIds;
  /** Legacy INTx pin, 1 = INTA# ... 4 = INTD#; 0 or absent means no INTx. */
  interruptPin?: InterruptPin;
  /** Whether the function decodes an I/O BAR (makes PciCommand.IO_SPACE writable). */
  hasIoBar?: boolean;
}

/** Command bits a guest may set. I/O space only when there is an I/O BAR (PCI 3.0 §6.2.2). */
function commandWritableBits(hasIoBar: boolean): number {
  return (
    (hasIoBar ? PciCommand.IO_SPACE : 0) |
    PciCommand.MEMORY_SPACE |
    PciCommand.BUS_MASTER |
    PciCommand.PARITY_ERROR_RESPONSE |
    PciCommand.SERR_ENABLE |
    PciCommand.INTERRUPT_DISABLE
  );
}

function checkField(name: string, value: number, bits: number): void {
  if (!Number.isInteger(value) || value < 0 || value >= 2 ** bits) {
    throw new RangeError(`${name} must be a ${bits}-bit unsigned integer, got ${value}`);
  }
}

/** The register table of a type-0 header. */
export function headerRegisters(options: HeaderOptions): RegisterSpec[] {
  const { ids } = options;
  checkField('ids.vendor', ids.vendor, 16);
  checkField('ids.device', ids.device, 16);
  checkField('ids.class', ids.class, 24);
  checkField('ids.revision', ids.revision ?? 0, 8);
  checkField('ids.subsystemVendor', ids.subsystemVendor ?? 0, 16);
  checkField('ids.subsystem', ids.subsystem ?? 0, 16);
  const pin = options.interruptPin ?? 0;
  if (![0, 1, 2, 3, 4].includes(pin)) throw new RangeError(`interruptPin must be 0..4, got ${pin}`);
  return [
    { offset: PciHeader.VENDOR_ID, width: 2, value: ids.vendor },
    { offset: PciHeader.DEVICE_ID, width: 2, value: ids.device },
    { offset: PciHeader.COMMAND, width: 2, rw: commandWritableBits(options.hasIoBar ?? false) },
    // Capability List is set by the capability builder; Interrupt Status is driven by INTx.
    { offset: PciHeader.STATUS, width: 2, rw1c: STATUS_RW1C },
    { offset: PciHeader.REVISION_ID, width: 1, value: ids.revision ?? 0 },
    { offset: PciHeader.CLASS_PROG, width: 1, value: ids.class & 0xff },
    { offset: PciHeader.CLASS_PROG + 1, width: 2, value: ids.class >>> 8 },
    // Cache Line Size is RW with no effect on PCIe (PCIe 6.0 §7.5.1.1.7); Latency Timer RO 0.
    { offset: PciHeader.CACHE_LINE_SIZE, width: 1, rw: 0xff },
    { offset: PciHeader.LATENCY_TIMER, width: 1 },
    { offset: PciHeader.HEADER_TYPE, width: 1, value: 0x00 },
    { offset: PciHeader.BIST, width: 1 },
    { offset: PciHeader.CARDBUS_CIS, width: 4 },
    { offset: PciHeader.SUBSYSTEM_VENDOR_ID, width: 2, value: ids.subsystemVendor ?? ids.vendor },
    { offset: PciHeader.SUBSYSTEM_ID, width: 2, value: ids.subsystem ?? ids.device },
    // No expansion ROM: the ROM BAR reads 0 and ignores writes.
    { offset: PciHeader.ROM_ADDRESS, width: 4 },
    { offset: PciHeader.CAPABILITY_LIST, width: 1 },
    // Interrupt Line is a scratch register for software (PCI 3.0 §6.2.4).
    { offset: PciHeader.INTERRUPT_LINE, width: 1, rw: 0xff },
    { offset: PciHeader.INTERRUPT_PIN, width: 1, value: pin },
    { offset: PciHeader.MIN_GNT, width: 1 },
    { offset: PciHeader.MAX_LAT, width: 1 },
  ];
}

/** Typed view of the Command and Status registers. */
export class CommandStatus {
  constructor(private readonly space: ConfigSpace) {}

  get command(): number {
    return this.space.get16(PciHeader.COMMAND);
  }
  get status(): number {
    return this.space.get16(PciHeader.STATUS);
  }
  get ioSpaceEnabled(): boolean {
    return (this.command & PciCommand.IO_SPACE) !== 0;
  }
  get memorySpaceEnabled(): boolean {
    return (this.command & PciCommand.MEMORY_SPACE) !== 0;
  }
  /** Bus Master Enable: gates DMA and MSI/MSI-X (PCI 3.0 §6.2.2, PCIe 6.0 §7.5.1.1.3). */
  get busMasterEnabled(): boolean {
    return (this.command & PciCommand.BUS_MASTER) !== 0;
  }
  /** Interrupt Disable: gates INTx only. */
  get interruptDisabled(): boolean {
    return (this.command & PciCommand.INTERRUPT_DISABLE) !== 0;
  }
  /** The Interrupt Status bit reflects the INTx level regardless of Interrupt Disable. */
  get interruptStatus(): boolean {
    return (this.status & PciStatus.INTERRUPT) !== 0;
  }
  setInterruptStatus(asserted: boolean): void {
    this.space.update16(PciHeader.STATUS, asserted ? PciStatus.INTERRUPT : 0, asserted ? 0 : PciStatus.INTERRUPT);
  }
  /** Device-side report of an error status bit (RW1C, cleared by the guest). */
  setStatusBits(bits: number): void {
    this.space.update16(PciHeader.STATUS, bits & STATUS_RW1C, 0);
  }
}
