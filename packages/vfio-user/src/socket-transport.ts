import { UnixStream, closeFd } from '@p2pkit/native';
import { type Header, type Message, decodeHeader } from './codec.ts';
import { MalformedMessageError } from './errors.ts';
import { HEADER_SIZE } from './protocol.ts';
import type { Transport } from './transport.ts';

/**
 * vfio-user framing over a UNIX stream socket. Like QEMU, it reads the 16-byte header first, then
 * exactly the body, so a recvmsg never spans two messages and fds always belong to the message
 * being read.
 */
export class SocketTransport implements Transport {
  readonly #stream: UnixStream;
  readonly #maxMessageSize: number;
  #onMessage: ((m: Message) => void) | undefined;
  #onClose: ((reason?: Error) => void) | undefined;
  #header: Buffer = Buffer.alloc(HEADER_SIZE);
  #headerFill = 0;
  #parsed: Header | undefined;
  #body: Buffer | undefined;
  #bodyFill = 0;
  #fds: number[] = [];
  #closed = false;
  #closeReason: Error | undefined;

  /** `maxMessageSize`: larger announced sizes are a protocol violation and end the connection. */
  constructor(stream: UnixStream, maxMessageSize = 1 << 20) {
    this.#stream = stream;
    this.#maxMessageSize = maxMessageSize + 4096;
  }

  static connect(path: string, maxMessageSize?: number): SocketTransport {
    return new SocketTransport(UnixStream.connect(path), maxMessageSize);
  }

  get closed(): boolean {
    return this.#closed;
  }

  send(message: Uint8Array, fds: readonly number[] = []): void {
    if (this.#closed) throw new Error('send on a closed vfio-user connection');
    this.#stream.write(message, fds);
  }

  start(onMessage: (message: Message) => void, onClose: (reason?: Error) => void): void {
    this.#onMessage = onMessage;
    this.#onClose = onClose;
    this.#stream.start(
      () => this.#drain(),
      () => this.#finish(),
    );
  }

  #drain(): void {
    try {
      while (!this.#closed) {
        if (!this.#parsed) {
          const chunk = this.#stream.read(HEADER_SIZE - this.#headerFill);
          if (!chunk) return;
          if (!chunk.data.length) return this.#eof();
          chunk.data.copy(this.#header, this.#headerFill);
          this.#headerFill += chunk.data.length;
          this.#fds.push(...chunk.fds);
          if (this.#headerFill < HEADER_SIZE) continue;
          const h = decodeHeader(this.#header);
          if (h.size < HEADER_SIZE || h.size > this.#maxMessageSize) {
            throw new MalformedMessageError(`message size ${h.size} outside [16, ${this.#maxMessageSize}]`);
          }
          this.#parsed = h;
          this.#body = Buffer.allocUnsafe(h.size - HEADER_SIZE);
          this.#bodyFill = 0;
        }
        const body = this.#body as Buffer;
        if (this.#bodyFill < body.length) {
          const chunk = this.#stream.read(body.length - this.#bodyFill);
          if (!chunk) return;
          if (!chunk.data.length) return this.#eof();
          chunk.data.copy(body, this.#bodyFill);
          this.#bodyFill += chunk.data.length;
          this.#fds.push(...chunk.fds);
          if (this.#bodyFill < body.length) continue;
        }
        const message: Message = { header: this.#parsed, payload: body, fds: this.#fds };
        this.#parsed = undefined;
        this.#headerFill = 0;
        this.#body = undefined;
        this.#fds = [];
        this.#onMessage?.(message);
      }
    } catch (e) {
      this.#closeReason = e instanceof Error ? e : new Error(String(e));
      this.close();
    }
  }

  settleIfHungUp(): boolean {
    if (this.#closed) return true;
    if (!this.#stream.peerHungUp()) return false;
    this.#drain(); // the peer's last messages (e.g. posted writes), then its EOF, which closes
    this.close();
    return true;
  }

  #eof(): void {
    if (this.#headerFill || this.#parsed) this.#closeReason = new MalformedMessageError('connection closed mid-message');
    this.close();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const fd of this.#fds.splice(0)) closeFd(fd);
    this.#stream.close();
  }

  #finish(): void {
    this.#closed = true;
    const cb = this.#onClose;
    this.#onClose = undefined;
    cb?.(this.#closeReason);
  }
}

