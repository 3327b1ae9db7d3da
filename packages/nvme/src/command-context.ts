/**
 * The {@link CommandContext} a handler receives: the entry, its namespace, data-pointer transfers
 * guarded by the opcode's data direction, the controller's bus view and its own CMB/PMR bytes, and
 * the Read/Write range checks.
 */
import type { SubmissionEntry } from './command.ts';
import type { DataTransfer } from './data-transfer.ts';
import { requireTransferRange } from './io/common.ts';
import type { Namespace } from './namespace.ts';
import type { NamespaceSet } from './namespace-set.ts';
import {
  type BusAccess,
  type CommandContext,
  type CommandResult,
  type DataDirection,
  dataDirection,
  type TransferRange,
} from './registry.ts';

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

/** The context of one command: methods on a prototype, so a command allocates one object, not a closure per method. */
class CommandContextImpl implements CommandContext {
  readonly namespace: Namespace | undefined;
  readonly direction: DataDirection;
  readonly bus: BusAccess;
  readonly cmb: Uint8Array | undefined;
  readonly pmr: Uint8Array | undefined;

  constructor(
    private readonly deps: CommandContextDeps,
    readonly entry: SubmissionEntry,
    readonly queue: 'admin' | 'io',
    readonly complete: (result: CommandResult) => void,
  ) {
    this.namespace = deps.namespaces.active(entry.nsid);
    this.direction = dataDirection(entry.opcode);
    this.bus = deps.bus;
    this.cmb = deps.cmb;
    this.pmr = deps.pmr;
  }

  async toHost(data: Uint8Array): Promise<void> {
    if (this.direction !== 'toHost' && this.direction !== 'bidirectional') throw new DirectionError(this.entry.opcode, 'to the host');
    return this.deps.transfer.toHost(this.entry, data);
  }

  async fromHost(length: number): Promise<Uint8Array> {
    if (this.direction !== 'toController' && this.direction !== 'bidirectional')
      throw new DirectionError(this.entry.opcode, 'to the controller');
    return this.deps.transfer.fromHost(this.entry, length);
  }

  requireTransferRange(): TransferRange {
    const { ns, slba, nlb, bytes } = requireTransferRange(this, (b) => this.checkMdts(b));
    return { namespace: ns, slba, nlb, bytes };
  }

  checkMdts(bytes: number): void {
    this.deps.transfer.checkMdts(bytes);
  }
}

/** Builds the context of one command; `complete` posts its completion. */
export function createCommandContext(
  deps: CommandContextDeps,
  entry: SubmissionEntry,
  queue: 'admin' | 'io',
  complete: (result: CommandResult) => void,
): CommandContext {
  return new CommandContextImpl(deps, entry, queue, complete);
}
