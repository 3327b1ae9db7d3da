/**
 * A message channel carrying msgpackr frames, over a byte stream (a socket, a child process's
 * stdio) or over a MessagePort-like object (worker_threads `Worker`, `MessagePort`, `parentPort`).
 */
import type { Duplex } from 'node:stream';
import { encodeFrame, FrameDecoder } from '../codec/frames.ts';

/** A bidirectional message channel. Messages are msgpack-encodable values. */
export interface FrameChannel {
  send(message: unknown): void;
  /** Registers the single message handler. */
  onMessage(handler: (message: unknown) => void): void;
  /** Called once when the other side goes away or `close()` is called. */
  onClose(handler: (error?: Error) => void): void;
  close(): void;
}

/** The subset of `MessagePort`/`Worker`/`parentPort` the channel uses. */
export interface PortLike {
  postMessage(value: unknown, transfer?: readonly ArrayBuffer[]): void;
  on(event: 'message', listener: (value: unknown) => void): unknown;
  on(event: 'close' | 'exit', listener: () => void): unknown;
  close?(): void;
  terminate?(): unknown;
  unref?(): void;
}

abstract class BaseChannel implements FrameChannel {
  private handler: ((m: unknown) => void) | undefined;
  private queued: unknown[] = [];
  private closeHandlers: ((error?: Error) => void)[] = [];
  protected closed = false;

  abstract send(message: unknown): void;
  abstract close(): void;

  onMessage(handler: (message: unknown) => void): void {
    this.handler = handler;
    const q = this.queued;
    this.queued = [];
    for (const m of q) handler(m);
  }

  onClose(handler: (error?: Error) => void): void {
    if (this.closed) handler();
    else this.closeHandlers.push(handler);
  }

  protected deliver(message: unknown): void {
    if (this.handler) this.handler(message);
    else this.queued.push(message);
  }

  protected finish(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    for (const h of this.closeHandlers.splice(0)) h(error);
  }
}

class StreamChannel extends BaseChannel {
  private readonly decoder = new FrameDecoder();

  constructor(private readonly stream: Duplex) {
    super();
    stream.on('data', (chunk: Uint8Array) => {
      try {
        for (const m of this.decoder.push(chunk)) this.deliver(m);
      } catch (err) {
        this.stream.destroy(err as Error);
      }
    });
    stream.on('close', () => this.finish());
    stream.on('end', () => this.finish());
    stream.on('error', (err: Error) => this.finish(err));
  }

  send(message: unknown): void {
    if (this.closed) throw new Error('channel is closed');
    this.stream.write(encodeFrame(message));
  }

  close(): void {
    this.stream.end();
    this.finish();
  }
}

class PortChannel extends BaseChannel {
  private readonly decoder = new FrameDecoder();

  constructor(private readonly port: PortLike) {
    super();
    port.on('message', (value: unknown) => {
      if (!(value instanceof Uint8Array)) return; // not ours (e.g. a test harness message)
      for (const m of this.decoder.push(value)) this.deliver(m);
    });
    port.on('close', () => this.finish());
    port.on('exit', () => this.finish());
  }

  send(message: unknown): void {
    if (this.closed) throw new Error('channel is closed');
    const frame = encodeFrame(message);
    this.port.postMessage(frame, [frame.buffer as ArrayBuffer]);
  }

  close(): void {
    this.port.close?.();
    this.finish();
  }
}

/** A channel over a byte stream, each message a length-prefixed msgpack frame. */
export function streamChannel(stream: Duplex): FrameChannel {
  return new StreamChannel(stream);
}

/** A channel over a MessagePort-like object (each postMessage carries one encoded frame). */
export function portChannel(port: PortLike): FrameChannel {
  return new PortChannel(port);
}
