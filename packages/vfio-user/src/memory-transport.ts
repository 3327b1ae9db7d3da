import { closeFd, dupFd } from '@p2pkit/native';
import { decodeHeader, type Message } from './codec.ts';
import type { Transport } from './transport.ts';

/**
 * An in-process transport pair: whole messages are handed over on the next microtask, fds are
 * duplicated so that each side owns its own copies (as with SCM_RIGHTS). For unit tests and for
 * fuzzing a device without sockets.
 */
export class MemoryTransport implements Transport {
  #peer: MemoryTransport | undefined;
  #onMessage: ((m: Message) => void) | undefined;
  #onClose: ((reason?: Error) => void) | undefined;
  #backlog: Message[] = [];
  #closed = false;

  static pair(): [MemoryTransport, MemoryTransport] {
    const a = new MemoryTransport();
    const b = new MemoryTransport();
    a.#peer = b;
    b.#peer = a;
    return [a, b];
  }

  get closed(): boolean {
    return this.#closed;
  }

  send(message: Uint8Array, fds: readonly number[] = []): void {
    if (this.#closed) throw new Error('send on a closed transport');
    const peer = this.#peer;
    if (!peer || peer.#closed) return;
    const copy = Buffer.from(message);
    const header = decodeHeader(copy);
    const owned = fds.map((fd) => dupFd(fd));
    queueMicrotask(() => peer.#deliver({ header, payload: copy.subarray(16, header.size), fds: owned }));
  }

  #deliver(m: Message): void {
    if (this.#closed) {
      for (const fd of m.fds) closeFd(fd);
      return;
    }
    if (!this.#onMessage) {
      this.#backlog.push(m);
      return;
    }
    this.#onMessage(m);
  }

  start(onMessage: (message: Message) => void, onClose: (reason?: Error) => void): void {
    this.#onMessage = onMessage;
    this.#onClose = onClose;
    for (const m of this.#backlog.splice(0)) onMessage(m);
  }

  settleIfHungUp(): boolean {
    if (this.#closed) return true;
    if (this.#peer && !this.#peer.#closed) return false;
    this.close();
    return true;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const m of this.#backlog.splice(0)) for (const fd of m.fds) closeFd(fd);
    const cb = this.#onClose;
    this.#onClose = undefined;
    queueMicrotask(() => cb?.());
    const peer = this.#peer;
    if (peer && !peer.#closed) queueMicrotask(() => peer.close());
  }
}
