import type { SubmissionEntry } from './command.ts';
import type { Namespace } from './namespace.ts';
import { Effects } from './opcodes.ts';

/**
 * Which way a command's data (its DPTR buffer) moves, from opcode bits 1:0 (NVMe 2.0 base §5 and
 * NVM command set §3, "Data Transfer" column; the same for admin and I/O opcodes):
 * 00b `'none'`, 01b `'toController'` (host → controller, like Write), 10b `'toHost'` (controller →
 * host, like Read), 11b `'bidirectional'`. Linux maps a passthrough buffer by these bits, so a
 * handler may only move data the way its opcode says: `ctx.toHost` needs 10b or 11b, `ctx.fromHost`
 * 01b or 11b.
 */
export type DataDirection = 'none' | 'toController' | 'toHost' | 'bidirectional';

const DIRECTIONS: readonly DataDirection[] = ['none', 'toController', 'toHost', 'bidirectional'];

/** The data direction opcode bits 1:0 encode. */
export function dataDirection(opcode: number): DataDirection {
  return DIRECTIONS[opcode & 3] as DataDirection;
}

/** What {@link CommandContext.requireTransferRange} found: the namespace and the checked LBA range. */
export interface TransferRange {
  readonly namespace: Namespace;
  /** Starting LBA, CDW10–11. */
  readonly slba: bigint;
  /** Number of logical blocks, CDW12 bits 15:0 plus one. */
  readonly nlb: number;
  /** `nlb` × the namespace's LBA size. */
  readonly bytes: number;
}

/** The controller's bus-master view: its own CMB/PMR locally, everything else by DMA. */
export interface BusAccess {
  /** Reads a copy of `length` bytes at bus address `address`. Rejects with `DmaError` when refused. */
  read(address: bigint, length: number): Promise<Uint8Array>;
  /** Writes `data` at bus address `address`. Rejects with `DmaError` when refused. */
  write(address: bigint, data: Uint8Array): Promise<void>;
}

/** What a handler returns: status (default Success) and CQE DW0/DW1. */
export interface CommandResult {
  status?: number;
  dw0?: number;
  dw1?: number;
}

/** Returned by a handler that completes later through {@link CommandContext.complete} (e.g. AER). */
export const Deferred: unique symbol = Symbol('nvme.deferred');
export type CommandOutcome = CommandResult | typeof Deferred;

/** Everything a command handler (built-in or extension) may use. */
export interface CommandContext {
  readonly entry: SubmissionEntry;
  readonly queue: 'admin' | 'io';
  /** The active (attached) namespace `entry.nsid`, if any. */
  readonly namespace: Namespace | undefined;
  /** The opcode's data direction (bits 1:0); {@link toHost} and {@link fromHost} refuse the other way. */
  readonly direction: DataDirection;
  /**
   * Copies `data` to the command's data buffer (PRP/SGL, MDTS enforced). The buffer may be guest
   * RAM, this controller's CMB/PMR or a peer's BAR. Throws unless the opcode moves data to the host.
   */
  toHost(data: Uint8Array): Promise<void>;
  /** Reads `length` bytes from the command's data buffer. Throws unless the opcode moves data to the controller. */
  fromHost(length: number): Promise<Uint8Array>;
  /**
   * Any bus address, as this controller's bus master sees it: its own CMB and PMR are served from
   * their bytes, guest RAM and peer BARs (through the fabric, when served on one) by DMA.
   */
  readonly bus: BusAccess;
  /** This controller's Controller Memory Buffer (offset 0 = the start of the CMB), if it has one. */
  readonly cmb: Uint8Array | undefined;
  /** This controller's Persistent Memory Region, if it has one. */
  readonly pmr: Uint8Array | undefined;
  /**
   * The checks of Read/Write/Compare for a command laid out like them (SLBA in CDW10–11, NLB in
   * CDW12 bits 15:0): active namespace, then MDTS, then LBA range — throwing the CommandError
   * (Invalid Namespace or Format, Invalid Field, LBA Out of Range) a built-in command would.
   */
  requireTransferRange(): TransferRange;
  /** Throws Invalid Field when `bytes` exceeds MDTS (no limit when MDTS is 0). */
  checkMdts(bytes: number): void;
  /** Completes a command whose handler returned {@link Deferred}. */
  complete(result: CommandResult): void;
}

export type CommandHandler = (ctx: CommandContext) => CommandOutcome | Promise<CommandOutcome>;

/** Interceptor in front of every command: call `next()` to run the rest of the chain, or answer yourself. */
export type CommandHook = (ctx: CommandContext, next: () => Promise<CommandOutcome>) => CommandOutcome | Promise<CommandOutcome>;

/** Options of `registerIoCommand` / `registerAdminCommand`. */
export interface CommandOptions {
  /** Name in logs and statistics. */
  name?: string;
  /** Commands Supported and Effects bits (`Effects.*`); Supported is implied. */
  effects?: number;
  /** The data direction the handler uses; must agree with opcode bits 1:0 (checked at registration). */
  data?: DataDirection;
  /** Replace the command already registered for this opcode (a built-in one, or an earlier registration). */
  replace?: boolean;
}

export interface CommandRegistration {
  handler: CommandHandler;
  /** Commands Supported and Effects bits (Effects.*); Supported is implied. */
  effects: number;
  name: string;
}

/** Opcode → handler table for one queue type (admin or I/O), the source of the effects log. */
export class CommandRegistry {
  private readonly table = new Map<number, CommandRegistration>();

  constructor(private readonly kind: 'admin' | 'I/O') {}

  /** Adds `opcode`; throws if it is taken, unless `replace` (the old handler is then gone). */
  register(opcode: number, name: string, handler: CommandHandler, effects: number = Effects.None, replace = false): void {
    if (!Number.isInteger(opcode) || opcode < 0 || opcode > 0xff) throw new RangeError(`${this.kind} opcode ${opcode} is not 0..0xff`);
    const taken = this.table.get(opcode);
    if (taken && !replace) {
      throw new Error(
        `${this.kind} opcode 0x${opcode.toString(16)} is already registered (${taken.name}); pass { replace: true } to replace it`,
      );
    }
    this.table.set(opcode, { handler, effects: effects | Effects.Supported, name });
  }

  unregister(opcode: number): void {
    this.table.delete(opcode);
  }

  get(opcode: number): CommandRegistration | undefined {
    return this.table.get(opcode);
  }

  /** 256 effects dwords, indexed by opcode. */
  effectsTable(): Uint32Array {
    const out = new Uint32Array(256);
    for (const [op, reg] of this.table) out[op] = reg.effects >>> 0;
    return out;
  }
}

export interface LogPageRequest {
  lid: number;
  nsid: number;
  /** Log Specific Parameter. */
  lsp: number;
  /** Retain Asynchronous Event. */
  rae: boolean;
  /** Log Specific Identifier (CDW11 31:16). */
  lsi: number;
  /** Command Set Identifier (CDW14 31:24): 0 NVM, 2 Zoned Namespace. */
  csi: number;
}

export type LogPageProvider = (req: LogPageRequest) => Uint8Array | Promise<Uint8Array>;
