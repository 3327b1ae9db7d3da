/**
 * vfio-user wire constants (protocol 0.x as QEMU 11.1 speaks it).
 * All integers are little-endian.
 */

export const HEADER_SIZE = 16;

export const Command = {
  VERSION: 1,
  DMA_MAP: 2,
  DMA_UNMAP: 3,
  DEVICE_GET_INFO: 4,
  DEVICE_GET_REGION_INFO: 5,
  DEVICE_GET_REGION_IO_FDS: 6,
  DEVICE_GET_IRQ_INFO: 7,
  DEVICE_SET_IRQS: 8,
  REGION_READ: 9,
  REGION_WRITE: 10,
  DMA_READ: 11,
  DMA_WRITE: 12,
  DEVICE_RESET: 13,
  DIRTY_PAGES: 14,
  REGION_WRITE_MULTI: 15,
  DEVICE_FEATURE: 16,
  MIG_DATA_READ: 17,
  MIG_DATA_WRITE: 18,
} as const;
export type CommandValue = (typeof Command)[keyof typeof Command];

/** Command names by value, built once: the session counts every message by name. */
const COMMAND_NAMES = new Map<number, string>(Object.entries(Command).map(([name, value]) => [value, name]));

export const commandName = (c: number): string => COMMAND_NAMES.get(c) ?? `command ${c}`;

/** Header flag bits. */
export const HeaderFlags = {
  TYPE_MASK: 0xf,
  TYPE_COMMAND: 0,
  TYPE_REPLY: 1,
  NO_REPLY: 0x10,
  ERROR: 0x20,
} as const;

/** DMA_MAP flags. */
export const DmaMapFlags = { READ: 1, WRITE: 2 } as const;
/** DMA_UNMAP flags. */
export const DmaUnmapFlags = { GET_DIRTY_BITMAP: 1, ALL: 2 } as const;

/** DEVICE_GET_INFO flags. */
export const DeviceFlags = { RESET: 1, PCI: 2 } as const;

/** SET_IRQS flags: exactly one DATA_* and one ACTION_*. */
export const IrqSetFlags = {
  DATA_NONE: 1,
  DATA_BOOL: 2,
  DATA_EVENTFD: 4,
  ACTION_MASK: 8,
  ACTION_UNMASK: 0x10,
  ACTION_TRIGGER: 0x20,
} as const;
export const IRQ_DATA_MASK = 0x7;
export const IRQ_ACTION_MASK = 0x38;

/** Region info capability: sparse mmap. */
export const REGION_INFO_CAP_SPARSE_MMAP = 1;

/** Most entries in one REGION_WRITE_MULTI (QEMU's VFIO_USER_MULTI_MAX). */
export const WRITE_MULTI_MAX = 200;
export const WRITE_MULTI_DATA = 8;
