/**
 * A NIC's host-side backend: the other end of its link is a UNIX stream socket where outside
 * processes (any language) exchange frames with the guest. Wire format, both directions: each frame
 * is a 4-byte little-endian length (1..65535) followed by that many bytes. Frames the NIC transmits
 * go to every connected process (dropped, and counted, when none is); frames a process sends are
 * queued for the NIC's RX ring, whose buffers may be anywhere on the bus — a peer's CMB or PMR too.
 */
import { rmSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { deliver, type NicLinkEnd, type NicRef, plug, stateOf, unplug } from './nic-link.ts';
import { MAX_FRAME } from './nic-regs.ts';

/** Frame counters of a {@link NicSocketBackend}. */
export interface NicSocketStats {
  /** Frames (and their bytes) outside processes sent to the NIC. */
  framesIn: number;
  bytesIn: number;
  /** Frames (and their bytes) the NIC transmitted to outside processes. */
  framesOut: number;
  bytesOut: number;
  /** Transmitted frames no process was connected for. */
  dropped: number;
}

/** A NIC linked to a UNIX socket; close it to unlink the NIC and remove the socket. */
export interface NicSocketBackend extends AsyncDisposable {
  readonly path: string;
  readonly stats: Readonly<NicSocketStats>;
  /** Outside processes connected now. */
  readonly clients: number;
  close(): Promise<void>;
}

/** Splits a byte stream into length-prefixed frames. */
class FrameDecoder {
  private pending: Buffer = Buffer.alloc(0);

  /** Appends `chunk`, returns the frames completed by it; throws on a length outside 1..65535. */
  push(chunk: Buffer): Uint8Array[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const out: Uint8Array[] = [];
    while (this.pending.length >= 4) {
      const length = this.pending.readUInt32LE(0);
      if (length === 0 || length > MAX_FRAME) throw new RangeError(`frame length ${length} not 1..${MAX_FRAME}`);
      if (this.pending.length < 4 + length) break;
      out.push(new Uint8Array(this.pending.subarray(4, 4 + length)));
      this.pending = this.pending.subarray(4 + length);
    }
    return out;
  }
}

function encodeFrame(frame: Uint8Array): Buffer {
  if (frame.length === 0 || frame.length > MAX_FRAME) throw new RangeError(`frame length ${frame.length} not 1..${MAX_FRAME}`);
  const out = Buffer.alloc(4 + frame.length);
  out.writeUInt32LE(frame.length, 0);
  out.set(frame, 4);
  return out;
}

/**
 * Links `nic` to a host-side backend listening on `path` (replacing any cable); the NIC's LINK goes
 * up at once. Resolves once the socket listens.
 */
export async function socketBackend(nic: NicRef, path: string): Promise<NicSocketBackend> {
  const s = stateOf(nic);
  const stats: NicSocketStats = { framesIn: 0, bytesIn: 0, framesOut: 0, bytesOut: 0, dropped: 0 };
  const sockets = new Set<Socket>();
  let linked = true;
  const end: NicLinkEnd = {
    send(frame) {
      if (sockets.size === 0) {
        stats.dropped++;
        return;
      }
      const bytes = encodeFrame(frame);
      for (const socket of sockets) socket.write(bytes);
      stats.framesOut++;
      stats.bytesOut += frame.length;
    },
    unplugged: () => {
      linked = false;
    },
  };
  rmSync(path, { force: true });
  const server = createServer((socket) => {
    sockets.add(socket);
    const decoder = new FrameDecoder();
    socket.on('data', (chunk: Buffer) => {
      let frames: Uint8Array[];
      try {
        frames = decoder.push(chunk);
      } catch {
        socket.destroy(); // a peer speaking another protocol: hang up on it
        return;
      }
      for (const frame of frames) {
        stats.framesIn++;
        stats.bytesIn += frame.length;
        if (linked) deliver(s, frame);
      }
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  plug(s, end);
  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= (async () => {
      if (s.link === end) unplug(s);
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(path, { force: true });
    })();
    return closed;
  };
  return {
    path,
    stats,
    get clients() {
      return sockets.size;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** An outside process's end of a {@link socketBackend}: send frames, receive the NIC's. */
export interface FrameSocket extends AsyncDisposable {
  /** Sends one frame (1..65535 bytes); resolves once it is handed to the kernel. */
  send(frame: Uint8Array): Promise<void>;
  /** Calls `listener` with every frame the NIC transmits from now on. */
  onFrame(listener: (frame: Uint8Array) => void): void;
  close(): Promise<void>;
}

/** Connects to a NIC's socket backend at `path`, as an outside process does. */
export async function connectFrameSocket(path: string): Promise<FrameSocket> {
  const socket = connect(path);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const decoder = new FrameDecoder();
  const listeners: ((frame: Uint8Array) => void)[] = [];
  socket.on('data', (chunk: Buffer) => {
    for (const frame of decoder.push(chunk)) for (const l of listeners) l(frame);
  });
  const close = async () => {
    if (socket.destroyed) return;
    await new Promise<void>((resolve) => socket.end(resolve));
    socket.destroy();
  };
  return {
    send: (frame) => new Promise<void>((resolve, reject) => socket.write(encodeFrame(frame), (e) => (e ? reject(e) : resolve()))),
    onFrame: (listener) => void listeners.push(listener),
    close,
    [Symbol.asyncDispose]: close,
  };
}
