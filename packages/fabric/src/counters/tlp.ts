/**
 * How many TLPs a transfer takes (PCIe Base 6.0 §2.2.2, §2.2.7, §2.3.1.1):
 *
 * - Memory writes carry at most MPS bytes each and never cross a 4 KiB boundary.
 * - Memory read requests ask for at most MRRS bytes each and never cross a 4 KiB boundary.
 * - Completions carry at most MPS bytes each.
 *
 * The model splits at naturally aligned boundaries of the limit (as DMA engines do), so a transfer
 * starting mid-chunk gets a short first TLP. Since MPS and MRRS are powers of two ≤ 4096, aligned
 * chunks also respect the 4 KiB rule. Completions are split at the smaller of MPS and MRRS (a request
 * never spans more than one MRRS-aligned chunk).
 */

/** Below these, address + length stays a safe integer. */
const SAFE_ADDRESS = 1n << 52n;
const SAFE_LENGTH = 2 ** 52;

/** Number of TLPs needed for `length` bytes at `address` with at most `limit` bytes each, aligned. */
export function tlpCount(address: bigint, length: number, limit: number): number {
  if (length <= 0) return 0;
  if (address < SAFE_ADDRESS && length < SAFE_LENGTH) {
    // Exact in doubles (every value below 2^53, limits powers of two), and no BigInt allocation.
    const a = Number(address);
    return Math.floor((a + length - 1) / limit) - Math.floor(a / limit) + 1;
  }
  const lim = BigInt(limit);
  const first = address / lim;
  const last = (address + BigInt(length) - 1n) / lim;
  return Number(last - first) + 1;
}

/** TLP counts of one transfer. */
export interface TlpBreakdown {
  /** Posted memory write TLPs (writes). */
  writes: number;
  /** Memory read request TLPs (reads). */
  readRequests: number;
  /** Completion-with-data TLPs (reads). */
  completions: number;
}

/** TLPs for a write or a read of `length` bytes at `address`. */
export function tlpBreakdown(direction: 'read' | 'write', address: bigint, length: number, mps: number, mrrs: number): TlpBreakdown {
  if (direction === 'write') return { writes: tlpCount(address, length, mps), readRequests: 0, completions: 0 };
  return {
    writes: 0,
    readRequests: tlpCount(address, length, Math.min(mrrs, 4096)),
    completions: tlpCount(address, length, Math.min(mps, mrrs)),
  };
}

/**
 * Bytes a TLP adds on the wire besides its payload, as an estimate for Gen3–5: 16-byte header
 * (4 DW, 64-bit address), 4-byte LCRC, 2-byte sequence number, 4 bytes of framing (STP/END).
 */
export const TLP_OVERHEAD_BYTES = 26;
