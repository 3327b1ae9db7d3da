/**
 * Data pointers (DPTR) built in guest memory the way a host driver builds them (NVMe 2.0 §4.3):
 * PRP1/PRP2 with PRP lists chained across pages, and SGL descriptors with segment lists. The
 * descriptor layout is the controller's own (`../sgl.ts`), so both sides agree by construction.
 */
import { encodeSglDescriptor, SglType } from '../sgl.ts';
import type { GuestMemory } from './guest-memory.ts';

/** `NvmeCommand.flags` value selecting SGLs for the data (PSDT = 01b, CDW0 bits 15:14). */
export const PSDT_SGL = 0x40;

/** A PRP data pointer: the two PRP entries of a submission entry. */
export interface PrpPointer {
  prp1: bigint;
  prp2: bigint;
}

/**
 * PRP1/PRP2 for the contiguous guest buffer `[address, address + length)`, as Linux's
 * nvme_setup_prps builds them: PRP2 is unused for one page, the second page for two, else a PRP
 * list allocated in `memory` (a full list page chains to the next through its last entry).
 * `pageSize` is the controller's memory page size (CC.MPS; 4 KiB unless the driver changed it).
 */
export function prpsFor(memory: GuestMemory, address: bigint, length: number, pageSize = 4096): PrpPointer {
  if ((address & 3n) !== 0n) throw new RangeError(`PRP1 0x${address.toString(16)} must be dword aligned`);
  const page = BigInt(pageSize);
  const first = pageSize - Number(address % page);
  if (length <= first) return { prp1: address, prp2: 0n };
  const second = address + BigInt(first);
  const pages = Math.ceil((length - first) / pageSize);
  if (pages === 1) return { prp1: address, prp2: second };
  const perList = pageSize / 8;
  const listPages = Math.max(1, Math.ceil((pages - 1) / (perList - 1)));
  const lists = memory.alloc(listPages * pageSize, pageSize);
  const view = memory.dataView(lists, listPages * pageSize);
  let listPage = 0;
  let slot = 0;
  for (let i = 0; i < pages; i++) {
    if (slot === perList - 1 && i < pages - 1) {
      view.setBigUint64(listPage * pageSize + slot * 8, lists + BigInt((listPage + 1) * pageSize), true);
      listPage++;
      slot = 0;
    }
    view.setBigUint64(listPage * pageSize + slot * 8, second + BigInt(i * pageSize), true);
    slot++;
  }
  return { prp1: address, prp2: lists };
}

/**
 * One 16-byte SGL descriptor. `type` is an {@link SglType} value (others, e.g. 4 for a keyed data
 * block, are for testing refusals); `subtype` 0 means "address".
 */
export function sglDescriptor(address: bigint, length: number, type: number, subtype = 0): Uint8Array {
  return encodeSglDescriptor(address, length, type, subtype);
}

/** An SGL Data Block descriptor for the guest buffer `[address, address + length)`. */
export function sglDataBlock(address: bigint, length: number): Uint8Array {
  return encodeSglDescriptor(address, length, SglType.DataBlock);
}

/** An SGL Bit Bucket descriptor: `length` bytes of controller→host data are discarded. */
export function sglBitBucket(length: number): Uint8Array {
  return encodeSglDescriptor(0n, length, SglType.BitBucket);
}

/**
 * SGL1 (the DPTR) for a buffer described by `descriptors` (data blocks, bit buckets): the descriptor
 * itself when there is one, else a Last Segment descriptor pointing to a list written in `memory`.
 * Send it as `{ flags: PSDT_SGL, sgl }` (the driver sets PSDT for you when `flags` is absent).
 */
export function sglFor(memory: GuestMemory, descriptors: readonly Uint8Array[]): Uint8Array {
  if (descriptors.length === 0) throw new RangeError('an SGL needs at least one descriptor');
  if (descriptors.length === 1) return descriptors[0] as Uint8Array;
  const bytes = descriptors.length * 16;
  const list = memory.alloc(bytes, 16);
  const view = memory.view(list, bytes);
  descriptors.forEach((d, i) => {
    if (d.length !== 16) throw new RangeError(`SGL descriptor ${i} is ${d.length} bytes, not 16`);
    view.set(d, i * 16);
  });
  return encodeSglDescriptor(list, bytes, SglType.LastSegment);
}
