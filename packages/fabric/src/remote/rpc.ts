/**
 * Request/response with ids over a {@link FrameChannel}, plus one-way notifications.
 * Errors travel as `{ name, message, errno?, address?, length? }`; a `DmaError` is rebuilt as one.
 */
import { DmaError } from '@p2pkit/base';
import type { FrameChannel } from './frame-channel.ts';

type Wire =
  | { t: 'req'; id: number; m: string; p: unknown }
  | { t: 'res'; id: number; v: unknown }
  | { t: 'err'; id: number; e: WireError }
  | { t: 'note'; m: string; p: unknown };

interface WireError {
  name: string;
  message: string;
  errno?: number;
  address?: bigint;
  length?: number;
}

/** A request handler; may be sync or async. */
export type RpcHandler = (params: never) => unknown;

/** The peer is gone. */
export class RpcClosedError extends Error {
  constructor(message = 'remote channel closed') {
    super(message);
    this.name = 'RpcClosedError';
  }
}

function toWireError(err: unknown): WireError {
  if (err instanceof DmaError) return { name: err.name, message: err.message, errno: err.errno, address: err.address, length: err.length };
  if (err instanceof Error) return { name: err.name, message: err.message };
  return { name: 'Error', message: String(err) };
}

function fromWireError(e: WireError): Error {
  if (e.name === 'DmaError' && e.errno !== undefined) return new DmaError(e.message, e.address ?? 0n, e.length ?? 0, e.errno);
  const err = new Error(e.message);
  err.name = e.name;
  return err;
}

/** One end of an RPC connection. Both ends can issue requests. */
export class RpcPeer {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly handlers = new Map<string, RpcHandler>();
  private readonly notes = new Map<string, (params: never) => void>();
  private closedError: Error | undefined;

  constructor(readonly channel: FrameChannel) {
    channel.onMessage((m) => this.receive(m as Wire));
    channel.onClose((error) => {
      this.closedError = new RpcClosedError(error ? `remote channel closed: ${error.message}` : undefined);
      for (const p of this.pending.values()) p.reject(this.closedError);
      this.pending.clear();
    });
  }

  /** Serves requests named `method`. */
  handle<P>(method: string, handler: (params: P) => unknown): void {
    this.handlers.set(method, handler as RpcHandler);
  }

  /** Serves notifications named `method`. */
  onNotify<P>(method: string, handler: (params: P) => void): void {
    this.notes.set(method, handler as (params: never) => void);
  }

  /** Sends a request and waits for its answer. */
  request<R>(method: string, params: unknown): Promise<R> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = this.nextId++;
    return new Promise<R>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.channel.send({ t: 'req', id, m: method, p: params } satisfies Wire);
    });
  }

  /** Sends a notification (no answer). */
  notify(method: string, params: unknown): void {
    if (this.closedError) return;
    this.channel.send({ t: 'note', m: method, p: params } satisfies Wire);
  }

  close(): void {
    this.channel.close();
  }

  private receive(m: Wire): void {
    switch (m.t) {
      case 'req':
        void this.serve(m.id, m.m, m.p);
        break;
      case 'res':
      case 'err': {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (m.t === 'res') p.resolve(m.v);
        else p.reject(fromWireError(m.e));
        break;
      }
      case 'note':
        this.notes.get(m.m)?.(m.p as never);
        break;
    }
  }

  private async serve(id: number, method: string, params: unknown): Promise<void> {
    const handler = this.handlers.get(method);
    let reply: Wire;
    try {
      if (!handler) throw new Error(`no handler for '${method}'`);
      reply = { t: 'res', id, v: (await handler(params as never)) ?? null };
    } catch (err) {
      reply = { t: 'err', id, e: toWireError(err) };
    }
    if (!this.closedError) this.channel.send(reply);
  }
}
