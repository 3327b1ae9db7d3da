import { chmodSync, linkSync, lstatSync, mkdirSync, mkdtempSync, rmdirSync, statSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { Errno } from '@p2pkit/base';
import { check, NativeError } from './errors.ts';
import { closeFd, OwnedFd } from './fd.ts';
import { type FdWatcher, watchFd } from './fd-watcher.ts';
import { C, koffi, libc } from './libc.ts';
import { sockaddrUn } from './sockaddr.ts';
import { UnixStream } from './unix-stream.ts';

/**
 * A listening AF_UNIX socket at a filesystem path, created with mode 0600 in a directory the
 * current user owns. A stale socket file (nobody listening) is replaced; a live one is an error.
 */
export class UnixListener {
  readonly path: string;
  readonly #fd: OwnedFd;
  #watcher: FdWatcher | undefined;
  #closed = false;

  private constructor(path: string, fd: number) {
    this.path = path;
    this.#fd = new OwnedFd(fd);
  }

  static listen(path: string, backlog = 16): UnixListener {
    prepareDirectory(dirname(path));
    removeStaleSocket(path);
    const fd = check('socket', libc.socket(C.AF_UNIX, C.SOCK_STREAM | C.SOCK_NONBLOCK | C.SOCK_CLOEXEC, 0));
    try {
      bindPrivately(fd, path);
      check('listen', libc.listen(fd, backlog));
      return new UnixListener(path, fd);
    } catch (e) {
      closeFd(fd);
      throw e;
    }
  }

  /** Accept connections as they arrive, on the event loop. */
  onConnection(handler: (stream: UnixStream) => void): void {
    this.#watcher?.close();
    this.#watcher = watchFd(this.#fd.fd, { readable: true }, () => {
      for (;;) {
        if (this.#closed) return;
        const fd = libc.accept4(this.#fd.fd, null, null, C.SOCK_NONBLOCK | C.SOCK_CLOEXEC);
        if (fd < 0) {
          const errno = koffi.errno();
          if (errno === Errno.EAGAIN || errno === Errno.ECONNABORTED || errno === Errno.EINTR) return;
          throw new NativeError('accept4', errno, this.path);
        }
        handler(new UnixStream(fd));
      }
    });
  }

  /** Stop listening and remove the socket file. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#watcher?.close();
    this.#fd.close();
    try {
      unlinkSync(this.path);
    } catch {
      // already removed by someone else: nothing to clean
    }
  }
}

/**
 * Binds `fd` to `path` so that nobody else can connect before the file is mode 0600. bind creates the
 * file with mode (0777 & ~umask): the main thread narrows the umask for that one call; a worker
 * thread may not change the umask, so it binds inside a fresh 0700 directory, narrows the mode
 * there and links the socket into place (failing, like bind, if `path` exists).
 */
function bindPrivately(fd: number, path: string): void {
  if (isMainThread) {
    const addr = sockaddrUn(path);
    const previous = process.umask(0o177);
    let rc: number;
    try {
      rc = libc.bind(fd, addr, addr.length);
    } finally {
      process.umask(previous);
    }
    if (rc < 0) throw new NativeError('bind', koffi.errno(), path);
    chmodSync(path, 0o600);
    return;
  }
  const staging = mkdtempSync(join(dirname(path), '.bind-'));
  const staged = join(staging, 's');
  try {
    const addr = sockaddrUn(staged);
    if (libc.bind(fd, addr, addr.length) < 0) throw new NativeError('bind', koffi.errno(), path);
    chmodSync(staged, 0o600);
    linkSync(staged, path);
  } finally {
    try {
      unlinkSync(staged);
    } catch {
      // bind failed: there is no file
    }
    rmdirSync(staging);
  }
}

function prepareDirectory(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = statSync(dir);
  const uid = process.getuid?.() ?? st.uid;
  if (st.uid !== uid) {
    throw new Error(`socket directory ${dir} is owned by uid ${st.uid}, not by this user (${uid})`);
  }
  if (st.mode & 0o002 && !(st.mode & 0o1000)) {
    throw new Error(`socket directory ${dir} is world-writable without the sticky bit`);
  }
}

function removeStaleSocket(path: string): void {
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new Error(`${path} exists and is not a socket; refusing to replace it`);
  try {
    UnixStream.connect(path).close();
  } catch (e) {
    if (e instanceof NativeError && e.code === 'ECONNREFUSED') {
      unlinkSync(path);
      return;
    }
    throw e;
  }
  throw new Error(`${path} is in use by a running server`);
}
