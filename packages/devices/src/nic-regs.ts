/**
 * The NIC stub's register map and descriptor layout (see nic.ts for the full description).
 */

// biome-ignore format: register map
export const NicReg = {
  ID: 0x00, VERSION: 0x04, MAC_LO: 0x08, MAC_HI: 0x0c, LINK: 0x10, INT_STATUS: 0x14,
  TX_BASE: 0x20, TX_SIZE: 0x28, TX_HEAD: 0x2c, TX_TAIL: 0x30, RX_BASE: 0x40, RX_SIZE: 0x48, RX_HEAD: 0x4c, RX_TAIL: 0x50,
  TX_FRAMES: 0x60, RX_FRAMES: 0x64, RX_DROPPED: 0x68, TX_ERRORS: 0x6c,
} as const;
/** INT_STATUS bits. */
export const NicInt = { RX: 1, TX: 2 } as const;
/** Descriptor flags written by the NIC. */
export const DescFlags = { DONE: 1, ERROR: 2 } as const;
/** MSI-X vectors. */
export const NicVector = { RX: 0, TX: 1 } as const;
export const NIC_ID = 0x4349_4e50;
/** Bytes per TX/RX descriptor. */
export const DESCRIPTOR_SIZE = 16;
/** Largest frame: a descriptor's length field is 16 bits. */
export const MAX_FRAME = 0xffff;

/** Adds one to the 32-bit counter register at `off`. */
export const bump = (r: DataView, off: number) => r.setUint32(off, (r.getUint32(off, true) + 1) >>> 0, true);
