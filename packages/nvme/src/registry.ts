import type { SubmissionEntry } from './command.ts';
import type { Namespace } from './namespace.ts';
import { Effects } from './opcodes.ts';

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
  /** Copies `data` to the command's host buffer (PRP/SGL, MDTS enforced). */
  toHost(data: Uint8Array): Promise<void>;
  /** Reads `length` bytes from the command's host buffer. */
  fromHost(length: number): Promise<Uint8Array>;
  /** Completes a command whose handler returned {@link Deferred}. */
  complete(result: CommandResult): void;
}

export type CommandHandler = (ctx: CommandContext) => CommandOutcome | Promise<CommandOutcome>;

/** Interceptor in front of every command: call `next()` to run the rest of the chain, or answer yourself. */
export type CommandHook = (ctx: CommandContext, next: () => Promise<CommandOutcome>) => CommandOutcome | Promise<CommandOutcome>;

export interface CommandRegistration {
  handler: CommandHandler;
  /** Commands Supported and Effects bits (Effects.*); Supported is implied. */
  effects: number;
  name: string;
}

/** Opcode → handler table for one queue type (admin or I/O), the source of the effects log. */
export class CommandRegistry {
  private readonly table = new Map<number, CommandRegistration>();

  register(opcode: number, name: string, handler: CommandHandler, effects: number = Effects.None): void {
    if (!Number.isInteger(opcode) || opcode < 0 || opcode > 0xff) throw new RangeError(`opcode ${opcode}`);
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
}

export type LogPageProvider = (req: LogPageRequest) => Uint8Array | Promise<Uint8Array>;
