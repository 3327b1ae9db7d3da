/**
 * Offsets and bit definitions of the PCI configuration space (PCI Local Bus 3.0 §6, PCIe Base 6.0 §7).
 * Names follow Linux's `pci_regs.h` where one exists, so kernel developers find them quickly.
 */

/** Type-0 header register offsets (PCI 3.0 §6.1). */
export const PciHeader = {
  VENDOR_ID: 0x00,
  DEVICE_ID: 0x02,
  COMMAND: 0x04,
  STATUS: 0x06,
  REVISION_ID: 0x08,
  CLASS_PROG: 0x09,
  CLASS_CODE: 0x09, // 3 bytes: prog-if, subclass, base class
  CACHE_LINE_SIZE: 0x0c,
  LATENCY_TIMER: 0x0d,
  HEADER_TYPE: 0x0e,
  BIST: 0x0f,
  BAR0: 0x10,
  CARDBUS_CIS: 0x28,
  SUBSYSTEM_VENDOR_ID: 0x2c,
  SUBSYSTEM_ID: 0x2e,
  ROM_ADDRESS: 0x30,
  CAPABILITY_LIST: 0x34,
  INTERRUPT_LINE: 0x3c,
  INTERRUPT_PIN: 0x3d,
  MIN_GNT: 0x3e,
  MAX_LAT: 0x3f,
} as const;

/** End of the type-0 header; standard capabilities live in [0x40, 0x100). */
export const PCI_HEADER_SIZE = 0x40;
/** Start of the extended configuration space (PCIe 6.0 §7.6). */
export const EXTENDED_CONFIG_START = 0x100;
export const CONVENTIONAL_CONFIG_SIZE = 256;
export const EXTENDED_CONFIG_SIZE = 4096;

/** Command register bits (PCI 3.0 §6.2.2). */
export const PciCommand = {
  IO_SPACE: 1 << 0,
  MEMORY_SPACE: 1 << 1,
  BUS_MASTER: 1 << 2,
  SPECIAL_CYCLES: 1 << 3,
  MEMORY_WRITE_INVALIDATE: 1 << 4,
  VGA_PALETTE_SNOOP: 1 << 5,
  PARITY_ERROR_RESPONSE: 1 << 6,
  SERR_ENABLE: 1 << 8,
  FAST_BACK_TO_BACK: 1 << 9,
  INTERRUPT_DISABLE: 1 << 10,
} as const;

/** Status register bits (PCI 3.0 §6.2.3). */
export const PciStatus = {
  IMMEDIATE_READINESS: 1 << 0,
  INTERRUPT: 1 << 3,
  CAPABILITY_LIST: 1 << 4,
  MHZ_66: 1 << 5,
  FAST_BACK_TO_BACK: 1 << 7,
  MASTER_DATA_PARITY_ERROR: 1 << 8,
  SIGNALED_TARGET_ABORT: 1 << 11,
  RECEIVED_TARGET_ABORT: 1 << 12,
  RECEIVED_MASTER_ABORT: 1 << 13,
  SIGNALED_SYSTEM_ERROR: 1 << 14,
  DETECTED_PARITY_ERROR: 1 << 15,
} as const;

/** Status bits that software clears by writing 1 (RW1C). */
export const STATUS_RW1C =
  PciStatus.MASTER_DATA_PARITY_ERROR |
  PciStatus.SIGNALED_TARGET_ABORT |
  PciStatus.RECEIVED_TARGET_ABORT |
  PciStatus.RECEIVED_MASTER_ABORT |
  PciStatus.SIGNALED_SYSTEM_ERROR |
  PciStatus.DETECTED_PARITY_ERROR;

/** BAR low-bit encodings (PCI 3.0 §6.2.5.1). */
export const BarBits = {
  IO_SPACE: 0x1,
  MEM_TYPE_64: 0x4,
  PREFETCHABLE: 0x8,
  MEM_FLAGS_MASK: 0xf,
  IO_FLAGS_MASK: 0x3,
} as const;

/** Capability IDs (PCI Code and ID Assignment 1.11 §2). */
export const CapabilityId = {
  POWER_MANAGEMENT: 0x01,
  MSI: 0x05,
  VENDOR_SPECIFIC: 0x09,
  PCI_EXPRESS: 0x10,
  MSIX: 0x11,
} as const;

/** Extended capability IDs (PCI Code and ID Assignment 1.11 §3). */
export const ExtendedCapabilityId = {
  AER: 0x0001,
  DEVICE_SERIAL_NUMBER: 0x0003,
  VENDOR_SPECIFIC: 0x000b,
} as const;

/** Legacy interrupt pins (Interrupt Pin register, PCI 3.0 §6.2.4). */
export type InterruptPin = 0 | 1 | 2 | 3 | 4;
