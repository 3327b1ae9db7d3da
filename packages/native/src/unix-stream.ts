import { Errno } from '@p2pkit/base';
import { check, NativeError } from './errors.ts';
import { closeFd, OwnedFd } from './fd.ts';
import { type FdWatcher, watchFd } from './fd-watcher.ts';
import { C, koffi, libc } from './libc.ts';
import { ScmScratch } from './scm-rights.ts';
import { sockaddrUn } from './sockaddr.ts';

/** Bytes read by {@link UnixStream.read}, with the fds that rode on them. */
export interface ReceivedChunk {
  data: Buffer;
  /** Descriptors received with these bytes; the caller owns (and must close) them. */
  fds: number[];
}

/** Who is at the other end of a UNIX socket ({@link UnixStream.peerCredentials}). */
export interface PeerCredentials {
  /** Process id of the peer when it connected. */
  pid: number;
  /** Effective user id of the peer. */
  uid: number;
  /** Effective group id of the peer. */
  gid: number;
}

interface PendingWrite {
  data: Uint8Array;
  fds: readonly number[];
}

/**
 * A connected non-blocking AF_UNIX stream socket that carries fds (SCM_RIGHTS) both ways.
 * Readiness comes from a libuv poll handle: no thread per connection and no busy polling.
 * Writes never block: what the kernel does not take is queued and flushed when writable.
 */
export class UnixStream {
  readonly #fd: OwnedFd;
  readonly #scratch: ScmScratch;
  #watcher: FdWatcher | undefined;
  #onReadable: (() => void) | undefined;
  #onClose: (() => void) | undefined;
  #queue: PendingWrite[] = [];
  #closed = false;

  /** Takes ownership of `fd`. `maxFds`: most fds accepted per received message (default 16). */
  constructor(fd: number, maxFds?: number) {
    this.#fd = new OwnedFd(fd);
    this.#scratch = new ScmScratch(maxFds);
  }

  /** Connect to a listening socket at `path`. */
  static connect(path: string): UnixStream {
    // Non-blocking from the start; an AF_UNIX connect completes at once or fails (EAGAIN: backlog full).
    const fd = check('socket', libc.socket(C.AF_UNIX, C.SOCK_STREAM | C.SOCK_NONBLOCK | C.SOCK_CLOEXEC, 0));
    const addr = sockaddrUn(path);
    if (libc.connect(fd, addr, addr.length) < 0) {
      const err = new NativeError('connect', koffi.errno(), path);
      closeFd(fd);
      throw err;
    }
    return new UnixStream(fd);
  }

  /** A connected pair (socketpair), for tests and in-process transports. */
  static pair(maxFds?: number, peerMaxFds = maxFds): [UnixStream, UnixStream] {
    const sv = [0, 0];
    check('socketpair', libc.socketpair(C.AF_UNIX, C.SOCK_STREAM | C.SOCK_NONBLOCK | C.SOCK_CLOEXEC, 0, sv));
    return [new UnixStream(sv[0] as number, maxFds), new UnixStream(sv[1] as number, peerMaxFds)];
  }

  get fd(): number {
    return this.#fd.fd;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Start delivering readiness: `onReadable` is called whenever data (or EOF) is waiting. */
  start(onReadable: () => void, onClose?: () => void): void {
    this.#onReadable = onReadable;
    this.#onClose = onClose;
    this.#watch();
  }

  #watch(): void {
    if (this.#closed) return;
    const events = { readable: !!this.#onReadable, writable: this.#queue.length > 0 };
    if (!this.#watcher) {
      this.#watcher = watchFd(this.fd, events, (ev, status) => this.#onEvent(ev, status));
    } else {
      this.#watcher.update(events);
    }
  }

  #onEvent(ev: { readable: boolean; writable: boolean; disconnect: boolean }, status: number): void {
    if (this.#closed) return;
    if (ev.writable) this.#flush();
    if ((ev.readable || ev.disconnect || status < 0) && this.#onReadable) this.#onReadable();
  }

  /**
   * Read up to `max` bytes with any fds attached. Returns undefined when nothing is waiting,
   * an empty chunk at end of stream. Throws on socket errors and truncated control data.
   */
  read(max: number): ReceivedChunk | undefined {
    const r = this.#scratch.recv(this.fd, max);
    if (typeof r === 'number') {
      if (-r === Errno.EAGAIN || -r === Errno.EWOULDBLOCK) return undefined;
      if (-r === Errno.ECONNRESET) return { data: Buffer.alloc(0), fds: [] };
      throw new NativeError('recvmsg', -r);
    }
    return r;
  }

  /**
   * Whether the peer has hung up (closed, or shut down its sending side), asked of the kernel now
   * with poll(2) rather than waiting for the event loop to deliver the EOF. Data it sent before
   * hanging up may still be waiting to be read.
   */
  peerHungUp(): boolean {
    if (this.#closed) return true;
    const pfd = Buffer.alloc(8); // struct pollfd { int fd; short events; short revents; }
    pfd.writeInt32LE(this.fd, 0);
    pfd.writeInt16LE(C.POLLRDHUP, 4);
    if (libc.poll(pfd, 1, 0) < 0) return false;
    return (pfd.readUInt16LE(6) & (C.POLLRDHUP | C.POLLHUP | C.POLLERR)) !== 0;
  }

  /** The peer's process, user and group at connect time (SO_PEERCRED), as the kernel recorded them. */
  peerCredentials(): PeerCredentials {
    const cred = Buffer.alloc(12); // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
    const len = Buffer.alloc(4);
    len.writeUInt32LE(cred.length);
    check('getsockopt', libc.getsockopt(this.fd, C.SOL_SOCKET, C.SO_PEERCRED, cred, len), 'SO_PEERCRED');
    return { pid: cred.readInt32LE(0), uid: cred.readUInt32LE(4), gid: cred.readUInt32LE(8) };
  }

  /** Queue `data` (and `fds`, sent with its first byte) for sending. Order is preserved. */
  write(data: Uint8Array, fds: readonly number[] = []): void {
    if (this.#closed) throw new Error('write on a closed socket');
    this.#queue.push({ data, fds });
    if (this.#queue.length === 1) this.#flush();
  }

  /** Bytes waiting in the user-space queue (the kernel buffer was full). */
  get pendingBytes(): number {
    return this.#queue.reduce((n, w) => n + w.data.length, 0);
  }

  #flush(): void {
    while (this.#queue.length && !this.#closed) {
      const w = this.#queue[0] as PendingWrite;
      const n = this.#sendSome(w);
      if (n < 0) {
        if (-n === Errno.EAGAIN) break;
        this.close(); // peer gone (EPIPE/ECONNRESET): report as close
        return;
      }
      if (n >= w.data.length) {
        this.#queue.shift();
      } else {
        this.#queue[0] = { data: w.data.subarray(n), fds: [] };
      }
    }
    this.#watch();
  }

  #sendSome(w: PendingWrite): number {
    if (w.fds.length) return this.#scratch.send(this.fd, w.data.subarray(0, 65536), w.fds);
    const n = Number(libc.send(this.fd, w.data, w.data.length, C.MSG_NOSIGNAL | C.MSG_DONTWAIT));
    return n < 0 ? -koffi.errno() : n;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#watcher?.close();
    this.#watcher = undefined;
    this.#queue = [];
    this.#fd.close();
    this.#scratch.free();
    const onClose = this.#onClose;
    this.#onClose = undefined;
    onClose?.();
  }
}
