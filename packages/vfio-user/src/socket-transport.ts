import { Errno } from '@p2pkit/base';
import { ControlTruncatedError, closeFd, MAX_FDS_PER_MESSAGE, type ReceivedChunk, UnixStream } from '@p2pkit/native';
import { decodeHeader, type Header, type Message } from './codec.ts';
import { MalformedMessageError } from './errors.ts';
import { HEADER_SIZE } from './protocol.ts';
import type { MessageRefusal, Transport } from './transport.ts';

/**
 * vfio-user framing over a UNIX stream socket. Like QEMU, it reads the 16-byte header first, then
 * exactly the body, so a recvmsg never spans two messages and fds always belong to the message
 * being read.
 */
export class SocketTransport implements Transport {
  readonly #stream: UnixStream;
  readonly #maxMessageSize: number;
  #onMessage: ((m: Message, refusal?: MessageRefusal) => void) | undefined;
  #onClose: ((reason?: Error) => void) | undefined;
  #header: Buffer = Buffer.alloc(HEADER_SIZE);
  #headerFill = 0;
  #parsed: Header | undefined;
  #body: Buffer | undefined;
  #bodyFill = 0;
  #fds: number[] = [];
  /** Body bytes of an oversized message still to be read and dropped. */
  #skip = 0;
  #refusal: MessageRefusal | undefined;
  #closed = false;
  #closeReason: Error | undefined;

  /**
   * `maxMessageSize`: the largest data payload (max_data_xfer_size); a message announcing more
   * (plus 4 KiB for headers) is skipped and refused with E2BIG, the connection stays up.
   */
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

  start(onMessage: (message: Message, refusal?: MessageRefusal) => void, onClose: (reason?: Error) => void): void {
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
          const chunk = this.#read(HEADER_SIZE - this.#headerFill);
          if (!chunk) return;
          if (!chunk.data.length) return this.#eof();
          chunk.data.copy(this.#header, this.#headerFill);
          this.#headerFill += chunk.data.length;
          this.#fds.push(...chunk.fds);
          if (this.#headerFill < HEADER_SIZE) continue;
          const h = decodeHeader(this.#header);
          // A size below the header cannot be framed past: the stream is lost.
          if (h.size < HEADER_SIZE) throw new MalformedMessageError(`message size ${h.size} below the 16-byte header`);
          this.#parsed = h;
          if (h.size > this.#maxMessageSize) {
            // Too large to accept, but the stream stays framed: drop the body, refuse the message.
            this.#skip = h.size - HEADER_SIZE;
            this.#refusal = { errno: Errno.E2BIG, reason: `message of ${h.size} bytes exceeds the maximum of ${this.#maxMessageSize}` };
            this.#body = Buffer.alloc(0);
          } else {
            this.#body = Buffer.allocUnsafe(h.size - HEADER_SIZE);
          }
          this.#bodyFill = 0;
        }
        if (this.#skip > 0) {
          const chunk = this.#read(Math.min(this.#skip, 1 << 16));
          if (!chunk) return;
          if (!chunk.data.length) return this.#eof();
          this.#skip -= chunk.data.length;
          this.#fds.push(...chunk.fds);
          if (this.#skip > 0) continue;
        }
        const body = this.#body as Buffer;
        if (this.#bodyFill < body.length) {
          const chunk = this.#read(body.length - this.#bodyFill);
          if (!chunk) return;
          if (!chunk.data.length) return this.#eof();
          chunk.data.copy(body, this.#bodyFill);
          this.#bodyFill += chunk.data.length;
          this.#fds.push(...chunk.fds);
          if (this.#bodyFill < body.length) continue;
        }
        const message: Message = { header: this.#parsed, payload: body, fds: this.#fds };
        const refusal = this.#refusal;
        this.#parsed = undefined;
        this.#headerFill = 0;
        this.#body = undefined;
        this.#fds = [];
        this.#refusal = undefined;
        this.#onMessage?.(message, refusal);
      }
    } catch (e) {
      this.#closeReason = e instanceof Error ? e : new Error(String(e));
      this.close();
    }
  }

  /** One read; more fds than max_msg_fds refuse the current message instead of ending the stream. */
  #read(max: number): ReceivedChunk | undefined {
    try {
      return this.#stream.read(max);
    } catch (e) {
      if (!(e instanceof ControlTruncatedError)) throw e;
      this.#refusal ??= {
        errno: Errno.EINVAL,
        reason: `more than ${MAX_FDS_PER_MESSAGE} fds in one message (max_msg_fds); the fds that arrived were closed`,
      };
      return { data: e.data, fds: [] };
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
