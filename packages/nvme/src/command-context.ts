/**
 * The {@link CommandContext} a handler receives: the entry, its namespace, data-pointer transfers
 * guarded by the opcode's data direction, the controller's bus view and its own CMB/PMR bytes, and
 * the Read/Write range checks.
 */
import type { SubmissionEntry } from './command.ts';
import type { DataTransfer } from './data-transfer.ts';
import { requireTransferRange } from './io/common.ts';
import type { NamespaceSet } from './namespace-set.ts';
import { type BusAccess, type CommandContext, type CommandResult, dataDirection, type TransferRange } from './registry.ts';

/** What a context needs from the controller. */
export interface CommandContextDeps {
  transfer: DataTransfer;
  namespaces: NamespaceSet;
  bus: BusAccess;
  /** The controller's CMB and PMR bytes (fixed for its lifetime). */
  cmb: Uint8Array | undefined;
  pmr: Uint8Array | undefined;
}

/** A handler moved data against its opcode's direction bits: a bug in the handler, not the host's mistake. */
class DirectionError extends Error {
  constructor(opcode: number, wanted: string) {
    const bits = (opcode & 3).toString(2).padStart(2, '0');
    super(
      `opcode 0x${opcode.toString(16)} (bits 1:0 = ${bits}b) does not move data ${wanted}; the data direction is part of the opcode (NVMe 2.0 §5)`,
    );
    this.name = 'DirectionError';
  }
}

/** Builds the context of one command; `complete` posts its completion. */
export function createCommandContext(
  deps: CommandContextDeps,
  entry: SubmissionEntry,
  queue: 'admin' | 'io',
  complete: (result: CommandResult) => void,
): CommandContext {
  const direction = dataDirection(entry.opcode);
  const toHostAllowed = direction === 'toHost' || direction === 'bidirectional';
  const fromHostAllowed = direction === 'toController' || direction === 'bidirectional';
  const checkMdts = (bytes: number) => deps.transfer.checkMdts(bytes);
  const ctx: CommandContext = {
    entry,
    queue,
    namespace: deps.namespaces.active(entry.nsid),
    direction,
    toHost: async (data) => {
      if (!toHostAllowed) throw new DirectionError(entry.opcode, 'to the host');
      return deps.transfer.toHost(entry, data);
    },
    fromHost: async (length) => {
      if (!fromHostAllowed) throw new DirectionError(entry.opcode, 'to the controller');
      return deps.transfer.fromHost(entry, length);
    },
    bus: deps.bus,
    cmb: deps.cmb,
    pmr: deps.pmr,
    requireTransferRange: (): TransferRange => {
      const { ns, slba, nlb, bytes } = requireTransferRange(ctx, checkMdts);
      return { namespace: ns, slba, nlb, bytes };
    },
    checkMdts,
    complete,
  };
  return ctx;
}
