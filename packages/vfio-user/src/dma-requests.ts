import { DmaError, Errno, type Logger } from '@p2pkit/base';
import type { Header } from './codec.ts';
import * as codec from './codec.ts';
import { Command, commandName, HeaderFlags } from './protocol.ts';
import type { Transport } from './transport.ts';

interface PendingDma {
  resolve(payload: Uint8Array): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
  address: bigint;
  length: number;
}

/**
 * The server→client DMA_READ/DMA_WRITE requests of one session: ids, deadlines, at most
 * `maxDmaInFlight` outstanding, and the outbox. A request created while a client request is being
 * handled (`handling`) waits in the outbox until that request's reply is queued: the client (QEMU)
 * can never be waiting for our reply while we wait for its DMA answer — no deadlock by construction.
 */
export class DmaRequests {
  /** True while a client request is being handled: new requests wait for {@link flushOutbox}. */
  handling = false;
  readonly #transport: Transport;
  readonly #options: { dmaTimeoutMs: number; maxDmaInFlight: number };
  readonly #log: Logger;
  #outbox: Buffer[] = [];
  #nextId = 0x8000;
  #pending = new Map<number, PendingDma>();
  #waiting: (() => void)[] = [];
  #ended = false;

  constructor(transport: Transport, options: { dmaTimeoutMs: number; maxDmaInFlight: number }, log: Logger) {
    this.#transport = transport;
    this.#options = options;
    this.#log = log;
  }

  /** Sends one DMA_READ/DMA_WRITE and resolves with the reply payload; rejects with DmaError. */
  request(kind: 'read' | 'write', address: bigint, length: number, data?: Uint8Array): Promise<Uint8Array> {
    if (this.#ended) return Promise.reject(new DmaError('client disconnected', address, length, Errno.ENODEV));
    if (this.#pending.size >= this.#options.maxDmaInFlight) {
      return new Promise<void>((r) => this.#waiting.push(r)).then(() => this.request(kind, address, length, data));
    }
    const id = this.#allocId();
    const command = kind === 'read' ? Command.DMA_READ : Command.DMA_WRITE;
    const payload = codec.encodeDmaAccess({ address, count: BigInt(length), ...(data ? { data } : {}) });
    const message = codec.encodeMessage({ id, command, flags: HeaderFlags.TYPE_COMMAND, error: 0 }, payload);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        this.#releaseSlot();
        reject(new DmaError(`DMA_${kind.toUpperCase()} at 0x${address.toString(16)} timed out`, address, length, Errno.ETIMEDOUT));
      }, this.#options.dmaTimeoutMs);
      this.#pending.set(id, { resolve, reject, timer, address, length });
      if (this.handling) this.#outbox.push(message);
      else this.#transport.send(message);
    });
  }

  /** Sends what waited for the reply to the request just handled. */
  flushOutbox(): void {
    while (this.#outbox.length && !this.#transport.closed) this.#transport.send(this.#outbox.shift() as Buffer);
  }

  /** The client's reply to one of our requests. `refused`: the transport could not deliver it whole. */
  onReply(h: Header, payload: Buffer, refused?: { errno: number; reason: string }): void {
    const p = this.#pending.get(h.id);
    if (!p) {
      this.#log.client(`unexpected reply id 0x${h.id.toString(16)} (${commandName(h.command)})`);
      return;
    }
    this.#pending.delete(h.id);
    clearTimeout(p.timer);
    this.#releaseSlot();
    const fail = (message: string, errno: number) => p.reject(new DmaError(message, p.address, p.length, errno));
    if (refused) return fail(`${commandName(h.command)} reply at 0x${p.address.toString(16)}: ${refused.reason}`, refused.errno);
    if (h.flags & HeaderFlags.ERROR) {
      return fail(`${commandName(h.command)} at 0x${p.address.toString(16)} refused by the client (errno ${h.error})`, h.error);
    }
    if (h.command === Command.DMA_READ) {
      const data = payload.subarray(16);
      if (data.length !== p.length) return fail(`DMA_READ reply carried ${data.length} bytes, ${p.length} expected`, Errno.EIO);
      p.resolve(data);
    } else {
      p.resolve(new Uint8Array(0));
    }
  }

  /** The client is gone: every pending and waiting request fails with ENODEV. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    for (const [, p] of this.#pending) {
      clearTimeout(p.timer);
      p.reject(new DmaError('client disconnected', p.address, p.length, Errno.ENODEV));
    }
    this.#pending.clear();
    for (const w of this.#waiting.splice(0)) w(); // they fail at once: the session has ended
    this.#outbox = [];
  }

  /** Lets the next waiting request go out once one in flight has finished. */
  #releaseSlot(): void {
    this.#waiting.shift()?.();
  }

  #allocId(): number {
    for (;;) {
      const id = this.#nextId;
      this.#nextId = this.#nextId === 0xffff ? 0x8000 : this.#nextId + 1;
      if (!this.#pending.has(id)) return id;
    }
  }
}
