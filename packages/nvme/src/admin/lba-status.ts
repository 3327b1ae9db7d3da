import { CommandError } from '../command-error.ts';
import type { ControllerCore } from '../core.ts';
import { AdminOpcode } from '../opcodes.ts';
import type { CommandResult } from '../registry.ts';
import { Status } from '../status.ts';

/** Action Type values of Get LBA Status (NVM command set §4.2.1, Figure 130). */
export const LbaStatusAction = {
  /** Scan, then return untracked and tracked Potentially Unrecoverable LBAs. */
  ScanUntracked: 0x10,
  /** Return the tracked Potentially Unrecoverable LBAs. */
  Tracked: 0x11,
} as const;

/** Completion Condition (CMPC) of the LBA Status Descriptor List (Figure 131). */
const Completion = { Incomplete: 1, Complete: 2 } as const;
/** LBA Range Status 011b: the most recent write of every block was a Write Uncorrectable. */
const WRITTEN_UNCORRECTABLE = 0b011;
const HEADER_BYTES = 8;
const DESCRIPTOR_BYTES = 16;
/** NLB is a 0's based 32-bit field: longer ranges take several descriptors. */
const MAX_DESCRIPTOR_BLOCKS = 1n << 32n;

/**
 * Get LBA Status (NVM command set §4.2.1; OACS bit 9): the Potentially Unrecoverable LBAs of
 * SLBA..SLBA+RL (RL 0: to the end of the namespace). The only unreadable blocks of a file-backed
 * namespace are those marked by Write Uncorrectable — always tracked, so the scan of ATYPE 10h finds
 * nothing more than 11h. Deallocated blocks read as zeroes (DLFEAT) and are not reported. Allocated
 * LBAs (ATYPE 02h) are not reported (RALBAS = 0): Invalid Field.
 */
export function registerLbaStatus(core: ControllerCore): void {
  core.admin.register(AdminOpcode.GetLbaStatus, 'Get LBA Status', async (ctx): Promise<CommandResult> => {
    const { entry } = ctx;
    const ns = ctx.namespace;
    if (!ns) throw new CommandError(Status.InvalidNamespaceOrFormat, `Get LBA Status of nsid ${entry.nsid}`, true, { nsid: entry.nsid });
    const atype = entry.cdw13 >>> 24;
    if (atype !== LbaStatusAction.ScanUntracked && atype !== LbaStatusAction.Tracked)
      throw new CommandError(Status.InvalidField, `Get LBA Status action type 0x${atype.toString(16)}`);
    const slba = entry.qw10;
    if (slba >= ns.blocks) throw new CommandError(Status.LbaOutOfRange, `Get LBA Status SLBA ${slba} ≥ NSZE ${ns.blocks}`);
    const rl = BigInt(entry.cdw13 & 0xffff);
    const end = rl === 0n || slba + rl > ns.blocks ? ns.blocks : slba + rl;
    // MNDW is 0's based: a buffer of (MNDW + 1) dwords, as long as MDTS allows.
    const bufferBytes = ((entry.cdw12 >>> 0) + 1) * 4;
    ctx.checkMdts(bufferBytes);
    const room = Math.max(0, Math.floor((bufferBytes - HEADER_BYTES) / DESCRIPTOR_BYTES));

    const descriptors: [bigint, bigint][] = [];
    let complete = true;
    scan: for (let [start, stop] of ns.uncorrectable.within(slba, end)) {
      while (start < stop) {
        if (descriptors.length === room) {
          complete = false;
          break scan;
        }
        const count = stop - start < MAX_DESCRIPTOR_BLOCKS ? stop - start : MAX_DESCRIPTOR_BLOCKS;
        descriptors.push([start, count]);
        start += count;
      }
    }
    const out = new Uint8Array(Math.min(bufferBytes, HEADER_BYTES + descriptors.length * DESCRIPTOR_BYTES));
    const full = new DataView(new ArrayBuffer(HEADER_BYTES + descriptors.length * DESCRIPTOR_BYTES));
    full.setUint32(0, descriptors.length, true); // NLSD
    full.setUint8(4, complete ? Completion.Complete : Completion.Incomplete); // CMPC
    descriptors.forEach(([start, count], i) => {
      const o = HEADER_BYTES + i * DESCRIPTOR_BYTES;
      full.setBigUint64(o, start, true); // DSLBA
      full.setUint32(o + 8, Number(count - 1n), true); // NLB, 0's based
      full.setUint8(o + 13, WRITTEN_UNCORRECTABLE); // STAS.LBARS
    });
    // A buffer smaller than the header gets what fits of it.
    out.set(new Uint8Array(full.buffer, 0, out.byteLength));
    await ctx.toHost(out);
    return {};
  });
}
