/** Scatter-gather lists and the bounds checks every DMA entry point applies. */
import { DmaError, type DmaRange, Errno } from '@p2pkit/base';

/** Largest single transfer the engine accepts (1 GiB): bounds buffer allocation. */
export const MAX_TRANSFER_BYTES = 1 << 30;

const MAX_ADDRESS = 1n << 64n;

/** Throws a DmaError (EINVAL/EFAULT) unless `[address, address + length)` is a valid bus range. */
export function checkRange(address: bigint, length: number): void {
  if (typeof address !== 'bigint')
    throw new DmaError(`DMA address must be a bigint, got ${typeof address}`, 0n, Number(length) || 0, Errno.EINVAL);
  if (!Number.isSafeInteger(length) || length < 0 || length > MAX_TRANSFER_BYTES) {
    throw new DmaError(`invalid DMA length ${length} (0..${MAX_TRANSFER_BYTES})`, address, 0, Errno.EINVAL);
  }
  if (address < 0n || address + BigInt(length) > MAX_ADDRESS) {
    throw new DmaError(
      `DMA range 0x${address.toString(16)}+${length} is outside the 64-bit bus address space`,
      address,
      length,
      Errno.EFAULT,
    );
  }
}

/** Validates a list and returns its total length. */
export function sgTotal(sg: readonly DmaRange[]): number {
  let total = 0;
  for (const e of sg) {
    checkRange(e.address, e.length);
    total += e.length;
  }
  if (total > MAX_TRANSFER_BYTES)
    throw new DmaError(`scatter-gather list of ${total} bytes exceeds ${MAX_TRANSFER_BYTES}`, sg[0]?.address ?? 0n, total, Errno.EINVAL);
  return total;
}
