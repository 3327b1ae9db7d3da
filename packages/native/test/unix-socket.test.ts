import { spawnSync } from 'node:child_process';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ControlTruncatedError,
  closeFd,
  EventFd,
  MappedRegion,
  openFdCount,
  SharedMemory,
  UnixListener,
  UnixStream,
} from '../src/index.ts';
import { readOnce, tempDir } from './helpers.ts';

const dirs: { cleanup(): void }[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) d.cleanup();
});
function dir(): string {
  const d = tempDir();
  dirs.push(d);
  return d.path;
}

describe('UnixListener', () => {
  it('creates the socket with mode 0600 and accepts a connection', async () => {
    const path = join(dir(), 'dev.sock');
    const listener = UnixListener.listen(path);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const accepted = new Promise<UnixStream>((resolve) => listener.onConnection(resolve));
    const client = UnixStream.connect(path);
    const server = await accepted;
    client.write(Buffer.from('ping'));
    const chunk = await readOnce(server);
    expect(chunk.data.toString()).toBe('ping');
    client.close();
    server.close();
    listener.close();
  });

  it('creates the socket with mode 0600 from a worker thread too (where the umask cannot be changed)', async () => {
    const d = dir();
    const path = join(d, 'dev.sock');
    const tsx = pathToFileURL(
      createRequire(import.meta.url)
        .resolve('tsx/esm/api')
        .replace(/\.cjs$/, '.mjs'),
    ).href;
    const fixture = new URL('./fixtures/listen-in-worker.ts', import.meta.url).href;
    const code = `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(fixture)}); });`;
    const worker = new Worker(code, { eval: true, workerData: { path }, execArgv: ['--conditions=source'] });
    const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
    const report = await new Promise<{ mode: number; entries: string[] }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    expect(report).toEqual({ mode: 0o600, entries: ['dev.sock'] }); // no staging directory left behind
    const client = UnixStream.connect(path);
    expect((await readOnce(client)).data.toString()).toBe('pong');
    client.close();
    expect(await exited).toBe(0);
    expect(existsSync(path)).toBe(false);
  });

  it('replaces a stale socket but refuses a live one and a non-socket file', () => {
    const d = dir();
    const live = join(d, 'live.sock');
    const first = UnixListener.listen(live);
    expect(() => UnixListener.listen(live)).toThrow(/in use/);
    first.close();
    writeFileSync(join(d, 'plain'), 'x');
    expect(() => UnixListener.listen(join(d, 'plain'))).toThrow(/not a socket/);
    // A crashed server leaves its socket file behind: bind one in a process that exits at once.
    const stale = join(d, 'stale.sock');
    const py = `import socket; s = socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(stale)}); s.listen()`;
    expect(spawnSync('python3', ['-c', py]).status).toBe(0);
    expect(statSync(stale).isSocket()).toBe(true);
    const l = UnixListener.listen(stale);
    l.close();
    expect(existsSync(stale)).toBe(false);
  });

  it('refuses a socket directory owned by someone else', () => {
    expect(() => UnixListener.listen('/proc/1/p2pkit.sock')).toThrow();
  });
});

describe('SCM_RIGHTS', () => {
  it('passes several fds in one message, and the receiver sees the same memory', async () => {
    const [a, b] = UnixStream.pair();
    const mem = SharedMemory.create('t', 4096);
    const ev = EventFd.create();
    mem.bytes.set([7, 7, 7], 100);
    a.write(Buffer.from([1, 2, 3]), [mem.fd.fd, ev.fd]);
    const chunk = await readOnce(b);
    expect([...chunk.data]).toEqual([1, 2, 3]);
    expect(chunk.fds).toHaveLength(2);
    const [memFd, evFd] = chunk.fds as [number, number];
    const mapped = MappedRegion.map(memFd, 0, 4096);
    expect([...mapped.view(100, 3)]).toEqual([7, 7, 7]);
    mapped.view(200, 1)[0] = 42;
    expect(mem.bytes[200]).toBe(42);
    mapped.unmap();
    // The received eventfd is the same object: signalling it is seen on ours.
    const { signalEventFd } = await import('../src/index.ts');
    signalEventFd(evFd);
    expect(ev.drain()).toBe(1n);
    closeFd(memFd);
    closeFd(evFd);
    mem.close();
    ev.close();
    a.close();
    b.close();
  });

  it('reports truncated control data as an error and closes the fds that arrived', async () => {
    const [tx, rx] = UnixStream.pair(32, 4);
    const evs = Array.from({ length: 8 }, () => EventFd.create());
    const before = openFdCount();
    tx.write(
      Buffer.from([9]),
      evs.map((e) => e.fd),
    );
    const err = await readOnce(rx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ControlTruncatedError);
    expect([...(err as ControlTruncatedError).data]).toEqual([9]); // the bytes stay usable: framing can go on
    expect(openFdCount()).toBe(before);
    for (const e of evs) e.close();
    tx.close();
    rx.close();
  });
});

describe('writes the kernel cannot take at once', () => {
  it('queues them, sends the rest when the socket drains, and keeps the reader going', async () => {
    const [tx, rx] = UnixStream.pair();
    // Far more than a socket buffer holds: most of it waits in the user-space queue.
    const chunks = Array.from({ length: 64 }, (_, i) => Buffer.alloc(64 * 1024, i));
    for (const c of chunks) tx.write(c);
    expect(tx.pendingBytes).toBeGreaterThan(0);
    const received: Buffer[] = [];
    let total = 0;
    await new Promise<void>((resolve, reject) => {
      rx.start(
        () => {
          try {
            for (let c = rx.read(1 << 20); c?.data.length; c = rx.read(1 << 20)) {
              received.push(c.data);
              total += c.data.length;
            }
            if (total === 64 * 64 * 1024) resolve();
          } catch (e) {
            reject(e);
          }
        },
        () => reject(new Error('closed early')),
      );
    });
    expect(tx.pendingBytes).toBe(0);
    expect(Buffer.concat(received).equals(Buffer.concat(chunks))).toBe(true);
    // The writer still sees the reader's messages after its writable watch came and went.
    const back = readOnce(tx);
    rx.write(Buffer.from('ok'));
    expect((await back).data.toString()).toBe('ok');
    tx.close();
    rx.close();
  });
});

describe('peer hang-up', () => {
  it('is seen at once with poll(2), also while the peer’s last bytes are still unread', () => {
    const [a, b] = UnixStream.pair();
    expect(a.peerHungUp()).toBe(false);
    b.write(Buffer.from('bye'));
    expect(a.peerHungUp()).toBe(false); // data alone is not a hang-up
    b.close();
    expect(a.peerHungUp()).toBe(true);
    expect(a.read(16)?.data.toString()).toBe('bye');
    expect(a.read(16)?.data.length).toBe(0); // then EOF
    a.close();
  });
});

describe('peer credentials', () => {
  it('reports the peer’s pid, uid and gid (SO_PEERCRED)', () => {
    const [a, b] = UnixStream.pair();
    expect(a.peerCredentials()).toEqual({ pid: process.pid, uid: process.getuid?.(), gid: process.getgid?.() });
    a.close();
    b.close();
  });
});
