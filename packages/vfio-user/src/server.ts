import { consoleLogger, type Logger, rateLimitedLogger } from '@p2pkit/base';
import { type PeerCredentials, UnixListener, type UnixStream } from '@p2pkit/native';
import type { VfioUserDevice } from './device.ts';
import { ClientSession, type SessionOptions } from './session.ts';
import { SocketTransport } from './socket-transport.ts';
import type { Transport } from './transport.ts';

export interface ServerOptions extends Partial<SessionOptions> {
  /**
   * Accept only clients whose uid (SO_PEERCRED) is listed. The socket is already mode 0600 in a
   * directory the user owns; this also holds when someone relaxes those permissions.
   */
  allowedUids?: readonly number[];
  /** Accept only clients running as the server's own uid (added to `allowedUids`). */
  ownerOnly?: boolean;
}

/**
 * Serves one device to one client at a time (QEMU connects once per device). When the client goes
 * away, DMA windows and interrupt fds are released, device state is kept, and the next client
 * (a new QEMU) is accepted without a restart.
 */
export class VfioUserServer {
  readonly device: VfioUserDevice;
  readonly options: SessionOptions;
  #listener: UnixListener | undefined;
  /** uids allowed to connect, or undefined for any. */
  readonly #allowedUids: ReadonlySet<number> | undefined;
  #session: ClientSession | undefined;
  #sessions = 0;
  #waiters: ((s: ClientSession) => void)[] = [];
  #endWaiters: (() => void)[] = [];

  constructor(device: VfioUserDevice, options: ServerOptions = {}) {
    this.device = device;
    // Rate limited by default: a client or guest repeating a mistake must not flood stderr. A logger
    // passed in is used as is (wrap it in rateLimitedLogger for the same protection).
    const logger: Logger = options.logger ?? rateLimitedLogger(consoleLogger());
    this.options = {
      maxDataXferSize: options.maxDataXferSize ?? 1 << 20,
      maxDmaMaps: options.maxDmaMaps ?? 65535,
      writeMultiple: options.writeMultiple ?? false,
      dmaTimeoutMs: options.dmaTimeoutMs ?? 10_000,
      dmaMessageBytes: options.dmaMessageBytes ?? 64 * 1024,
      maxDmaInFlight: options.maxDmaInFlight ?? 1,
      logger,
    };
    if (options.allowedUids || options.ownerOnly) {
      const uids = new Set(options.allowedUids ?? []);
      if (options.ownerOnly) uids.add(process.getuid?.() ?? 0);
      this.#allowedUids = uids;
    }
  }

  /** Listen on a UNIX socket path (mode 0600; a stale socket file is replaced). */
  static listen(path: string, device: VfioUserDevice, options?: ServerOptions): VfioUserServer {
    const server = new VfioUserServer(device, options);
    server.listen(path);
    return server;
  }

  listen(path: string): void {
    const listener = UnixListener.listen(path);
    this.#listener = listener;
    listener.onConnection((stream) => {
      if (!this.#mayConnect(stream)) return;
      this.serve(new SocketTransport(stream, this.options.maxDataXferSize));
    });
  }

  /** The uid check of `allowedUids` / `ownerOnly` (SO_PEERCRED: what the kernel recorded at connect). */
  #mayConnect(stream: UnixStream): boolean {
    if (!this.#allowedUids) return true;
    let peer: PeerCredentials | undefined;
    try {
      peer = stream.peerCredentials();
    } catch (e) {
      this.options.logger.client(`connection refused: peer credentials unavailable (${(e as Error).message})`);
    }
    if (peer && this.#allowedUids.has(peer.uid)) return true;
    if (peer) this.options.logger.client(`connection from uid ${peer.uid} (pid ${peer.pid}) refused: uid not allowed`);
    stream.close();
    return false;
  }

  get path(): string | undefined {
    return this.#listener?.path;
  }

  /** The connected client's session, if any. */
  get session(): ClientSession | undefined {
    return this.#session;
  }

  /** How many clients have connected so far. */
  get sessionCount(): number {
    return this.#sessions;
  }

  /** Serve a client over any transport (the in-memory one in tests). */
  serve(transport: Transport): ClientSession | undefined {
    // A predecessor that already hung up is not a live client, even if the event loop has not
    // delivered its EOF yet (a reconnecting QEMU's accept can come first): end it now.
    const current = this.#session;
    if (current?.settleIfHungUp()) this.#ended(current);
    if (this.#session) {
      this.options.logger.client('second client refused: one client per device');
      transport.close();
      return undefined;
    }
    this.#sessions++;
    const session = new ClientSession(transport, this.device, this.options, () => this.#ended(session));
    this.#session = session;
    for (const w of this.#waiters.splice(0)) w(session);
    return session;
  }

  #ended(session: ClientSession): void {
    if (this.#session !== session) return; // already replaced (ended early by settleIfHungUp)
    this.#session = undefined;
    for (const w of this.#endWaiters.splice(0)) w();
  }

  /** Resolves with the current session, or the next one to connect. */
  nextSession(): Promise<ClientSession> {
    if (this.#session) return Promise.resolve(this.#session);
    return new Promise((r) => this.#waiters.push(r));
  }

  /** Resolves when the current client disconnects (at once if none). */
  sessionEnded(): Promise<void> {
    if (!this.#session) return Promise.resolve();
    return new Promise((r) => this.#endWaiters.push(r));
  }

  /** Stop listening and drop the client. */
  close(): void {
    this.#session?.close();
    this.#listener?.close();
    this.#listener = undefined;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
