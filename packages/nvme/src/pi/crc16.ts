/**
 * The 16-bit guard of T10 DIF protection information (NVM command set §5.3.1.1): CRC-16 with
 * polynomial 0x8BB7, initial value 0, no reflection, no final XOR. Table-driven, one byte per step.
 */

const TABLE = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? (crc << 1) ^ 0x8bb7 : crc << 1;
    table[i] = crc & 0xffff;
  }
  return table;
})();

/**
 * CRC-16 T10-DIF of `data`, continuing from `crc` (0 to start): the guard a host puts in the
 * protection information of a logical block, and what the controller checks it against.
 */
export function crc16T10Dif(data: Uint8Array, crc = 0): number {
  let c = crc & 0xffff;
  for (let i = 0; i < data.byteLength; i++) c = ((c << 8) & 0xffff) ^ (TABLE[((c >>> 8) ^ (data[i] as number)) & 0xff] as number);
  return c;
}
