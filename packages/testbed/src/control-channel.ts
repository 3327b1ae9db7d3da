/**
 * Host end of the guest control channel: a UNIX socket server that QEMU's
 * `-chardev socket` connects to; the guest sees it as the virtio-serial port `p2pkit.ctl`.
 * Line protocol (see guest/agent.sh): host sends `RUN <id> <s>`, `DMESG <id>`, `POWEROFF`;
 * the guest answers `READY <uptime>` once and `DONE <id> <rc>` per command.
 */
import { EventEmitter } from 'node:events';
import { rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';

/** A line from the guest agent. */
export type AgentMessage = { type: 'ready'; uptime: number } | { type: 'done'; id: number; exitCode: number };

/** Raised when the guest does not answer in time or the channel closes. */
export class ChannelError extends Error {
  override name = 'ChannelError';
}

/** Server side of the control channel. */
export class ControlChannel {
  readonly #server: Server;
  #socket: Socket | undefined;
  #buffer = '';
  #closed = false;
  #ready: number | undefined;
  readonly #events = new EventEmitter();
  readonly #done = new Map<number, number>();

  private constructor(
    readonly path: string,
    server: Server,
  ) {
    this.#server = server;
    server.on('connection', (socket) => this.#attach(socket));
  }

  /** Listen on `path` (must not exist); QEMU connects to it at start. */
  static async listen(path: string): Promise<ControlChannel> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => resolve());
    });
    return new ControlChannel(path, server);
  }

  #attach(socket: Socket): void {
    if (this.#socket) {
      socket.destroy();
      return;
    }
    this.#socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.#buffer += chunk;
      for (let nl = this.#buffer.indexOf('\n'); nl >= 0; nl = this.#buffer.indexOf('\n')) {
        const line = this.#buffer.slice(0, nl).trim();
        this.#buffer = this.#buffer.slice(nl + 1);
        this.#onLine(line);
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.#socket = undefined;
      this.#events.emit('closed');
    });
  }

  #onLine(line: string): void {
    const [kind, a, b] = line.split(/\s+/);
    if (kind === 'READY') {
      this.#ready = Number.parseFloat(a ?? '0');
      this.#events.emit('ready');
    } else if (kind === 'DONE' && a !== undefined) {
      this.#done.set(Number(a), Number(b ?? '255'));
      this.#events.emit(`done:${a}`);
    }
  }

  /** Wait for the agent's READY line; resolves with the guest uptime (s) it reported. */
  waitReady(timeoutMs: number, abort?: Promise<never>): Promise<number> {
    if (this.#ready !== undefined) return Promise.resolve(this.#ready);
    return this.#wait('ready', timeoutMs, abort).then(() => this.#ready ?? 0);
  }

  /** Send one command line. */
  send(line: string): void {
    if (!this.#socket || this.#closed) throw new ChannelError('control channel is not connected');
    this.#socket.write(`${line}\n`);
  }

  /** Wait for `DONE <id> <rc>` and return rc. */
  async waitDone(id: number, timeoutMs: number, abort?: Promise<never>): Promise<number> {
    if (!this.#done.has(id)) await this.#wait(`done:${id}`, timeoutMs, abort);
    const rc = this.#done.get(id) ?? 255;
    this.#done.delete(id);
    return rc;
  }

  #wait(event: string, timeoutMs: number, abort?: Promise<never>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer);
        this.#events.off(event, onEvent);
        this.#events.off('closed', onClosed);
      };
      const onEvent = (): void => {
        cleanup();
        resolve();
      };
      const onClosed = (): void => {
        cleanup();
        reject(new ChannelError(`control channel closed while waiting for ${event}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new ChannelError(`no ${event} from the guest within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#events.on(event, onEvent);
      this.#events.on('closed', onClosed);
      abort?.catch((e: unknown) => {
        cleanup();
        reject(e);
      });
    });
  }

  /** Close the server and the connection and delete the socket file. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket?.destroy();
    this.#server.close();
    rmSync(this.path, { force: true });
  }
}
