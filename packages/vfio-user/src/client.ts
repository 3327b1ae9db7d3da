import { Errno } from '@p2pkit/base';
import { closeFd } from '@p2pkit/native';
import type { Message } from './codec.ts';
import * as codec from './codec.ts';
import type { IrqInfo } from './device.ts';
import { VfioUserError } from './errors.ts';
import { Command, commandName, HeaderFlags } from './protocol.ts';
import { SocketTransport } from './socket-transport.ts';
import type { Transport } from './transport.ts';

export interface ClientOptions {
  /** Reply deadline per request, like QEMU's x-msg-timeout (default 5000 ms). */
  timeoutMs?: number;
  /** Capabilities sent in VERSION (defaults mirror QEMU 11.1). */
  capabilities?: Record<string, unknown>;
  /** Called for every message received, before it is handled (ordering tests, tracing). */
  onReceive?: (message: Message) => void;
}

/** Memory the client exposes to the server's DMA_READ/DMA_WRITE (like QEMU's address space). */
export interface ClientMemoryRange {
  address: bigint;
  bytes: Uint8Array;
}

export interface RegionInfoReply extends codec.RegionInfoPayload {
  /** The mmappable fd, if the server attached one; the caller owns it. */
  fd?: number;
}

interface Pending {
  resolve(m: Message): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
  command: number;
}

/**
 * A vfio-user client in TypeScript: what QEMU does, for tests, benchmarks, and for unit-testing a
 * device without a VM. It also answers the server's DMA_READ/DMA_WRITE from registered memory.
 */
export class VfioUserClient {
  readonly #transport: Transport;
  readonly #timeoutMs: number;
  readonly #onReceive: ((m: Message) => void) | undefined;
  /** Replies whose id matched no request (a server bug, e.g. answering a NO_REPLY message). */
  unexpectedReplies = 0;
  #nextId = 1;
  #pending = new Map<number, Pending>();
  #memory: ClientMemoryRange[] = [];
  #closed = false;
  #closedPromise: Promise<void>;
  /** Server→client DMA requests served, by kind. */
  readonly dmaServed = { reads: 0, writes: 0, bytes: 0, refused: 0 };
  /** The server's VERSION capabilities after {@link negotiate}. */
  serverCapabilities: Record<string, unknown> = {};

  constructor(transport: Transport, options: ClientOptions = {}) {
    this.#transport = transport;
    this.#timeoutMs = options.timeoutMs ?? 5000;
    this.#onReceive = options.onReceive;
    let onClosed!: () => void;
    this.#closedPromise = new Promise((r) => {
      onClosed = r;
    });
    transport.start(
      (m) => this.#onMessage(m),
      () => {
        this.#closed = true;
        for (const [, p] of this.#pending) {
          clearTimeout(p.timer);
          p.reject(new Error(`connection closed while waiting for ${commandName(p.command)}`));
        }
        this.#pending.clear();
        onClosed();
      },
    );
  }

  /** Connect over a UNIX socket and negotiate the version. */
  static async connect(path: string, options: ClientOptions = {}): Promise<VfioUserClient> {
    const client = new VfioUserClient(SocketTransport.connect(path), options);
    await client.negotiate(options.capabilities);
    return client;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Resolves once the connection is closed (by either side). */
  whenClosed(): Promise<void> {
    return this.#closedPromise;
  }

  /** Send any command and wait for its reply. Rejects with VfioUserError on an error reply. */
  request(command: number, payload?: Uint8Array, fds: readonly number[] = []): Promise<Message> {
    if (this.#closed) return Promise.reject(new Error('client is closed'));
    const id = this.#nextId;
    this.#nextId = (this.#nextId % 0x7fff) + 1;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new VfioUserError(command, Errno.ETIMEDOUT, `${commandName(command)}: no reply within ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
      this.#pending.set(id, { resolve, reject, timer, command });
      this.#transport.send(codec.encodeMessage({ id, command, flags: HeaderFlags.TYPE_COMMAND, error: 0 }, payload), fds);
    });
  }

  /** Send a command with NO_REPLY (posted). */
  post(command: number, payload?: Uint8Array): void {
    const id = this.#nextId;
    this.#nextId = (this.#nextId % 0x7fff) + 1;
    this.#transport.send(codec.encodeMessage({ id, command, flags: HeaderFlags.TYPE_COMMAND | HeaderFlags.NO_REPLY, error: 0 }, payload));
  }

  /** Send raw bytes (conformance tests of malformed input). */
  sendRaw(bytes: Uint8Array, fds: readonly number[] = []): void {
    this.#transport.send(bytes, fds);
  }

  async negotiate(capabilities?: Record<string, unknown>): Promise<codec.VersionPayload> {
    const caps = capabilities ?? {
      max_msg_fds: 16,
      max_data_xfer_size: 1 << 20,
      pgsizes: 4096,
      max_dma_maps: 65535,
      migration: { pgsize: 4096, max_bitmap_size: 268435456 },
      write_multiple: true,
    };
    const r = await this.request(Command.VERSION, codec.encodeVersion({ major: 0, minor: 0, capabilities: caps }));
    const v = codec.decodeVersion(r.payload);
    this.serverCapabilities = v.capabilities;
    return v;
  }

  async dmaMap(m: { address: bigint; size: bigint; flags: number; fd?: number; offset?: bigint }): Promise<void> {
    await this.request(
      Command.DMA_MAP,
      codec.encodeDmaMap({ flags: m.flags, offset: m.offset ?? 0n, address: m.address, size: m.size }),
      m.fd === undefined ? [] : [m.fd],
    );
  }

  async dmaUnmap(m: { address: bigint; size: bigint } | { all: true }): Promise<void> {
    const p = 'all' in m ? { flags: 2, address: 0n, size: 0n } : { flags: 0, address: m.address, size: m.size };
    await this.request(Command.DMA_UNMAP, codec.encodeDmaUnmap(p));
  }

  async deviceInfo(): Promise<codec.DeviceInfoPayload> {
    const r = await this.request(Command.DEVICE_GET_INFO, codec.encodeDeviceInfo({ argsz: 16, flags: 0, numRegions: 0, numIrqs: 0 }));
    return codec.decodeDeviceInfo(r.payload);
  }

  /** GET_REGION_INFO, re-asking with a larger argsz when the server's answer did not fit (as QEMU does). */
  async regionInfo(index: number, argsz = 32): Promise<RegionInfoReply> {
    const r = await this.request(Command.DEVICE_GET_REGION_INFO, codec.encodeRegionInfoRequest(index, argsz));
    const info: RegionInfoReply = codec.decodeRegionInfo(r.payload);
    if (info.argsz > argsz) {
      for (const fd of r.fds) closeFd(fd);
      return this.regionInfo(index, info.argsz);
    }
    if (r.fds.length) info.fd = r.fds[0] as number;
    for (const fd of r.fds.slice(1)) closeFd(fd);
    return info;
  }

  async irqInfo(index: number): Promise<IrqInfo> {
    const r = await this.request(Command.DEVICE_GET_IRQ_INFO, codec.encodeIrqInfo({ argsz: 16, flags: 0, index, count: 0 }));
    const i = codec.decodeIrqInfo(r.payload);
    return { index: i.index, count: i.count, flags: i.flags };
  }

  async setIrqs(s: { index: number; flags: number; start: number; count: number; fds?: number[]; data?: Uint8Array }): Promise<void> {
    await this.request(
      Command.DEVICE_SET_IRQS,
      codec.encodeSetIrqs({ flags: s.flags, index: s.index, start: s.start, count: s.count, ...(s.data ? { data: s.data } : {}) }),
      s.fds ?? [],
    );
  }

  async regionRead(region: number, offset: bigint | number, count: number): Promise<Buffer> {
    const r = await this.request(Command.REGION_READ, codec.encodeRegionAccess({ offset: BigInt(offset), region, count }));
    const a = codec.decodeRegionAccess(r.payload);
    if (a.data.length !== count)
      throw new VfioUserError(Command.REGION_READ, Errno.EIO, `short REGION_READ reply: ${a.data.length}/${count}`);
    return Buffer.from(a.data);
  }

  /** REGION_WRITE; `posted` sends it with NO_REPLY like QEMU's posted BAR writes. */
  async regionWrite(region: number, offset: bigint | number, data: Uint8Array, posted = false): Promise<void> {
    const payload = codec.encodeRegionAccess({ offset: BigInt(offset), region, count: data.length, data });
    if (posted) return this.post(Command.REGION_WRITE, payload);
    await this.request(Command.REGION_WRITE, payload);
  }

  /** Little-endian helpers for register access. */
  async read32(region: number, offset: number): Promise<number> {
    return (await this.regionRead(region, offset, 4)).readUInt32LE(0);
  }

  async write32(region: number, offset: number, value: number, posted = false): Promise<void> {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(value >>> 0);
    await this.regionWrite(region, offset, b, posted);
  }

  writeMulti(entries: codec.WriteMultiEntry[]): void {
    this.post(Command.REGION_WRITE_MULTI, codec.encodeWriteMulti(entries));
  }

  async reset(): Promise<void> {
    await this.request(Command.DEVICE_RESET);
  }

  /** Expose `bytes` at bus address `address` to the server's DMA_READ/DMA_WRITE. */
  exposeMemory(address: bigint, bytes: Uint8Array): void {
    this.#memory.push({ address, bytes });
  }

  close(): void {
    this.#transport.close();
  }

  #onMessage(m: Message): void {
    this.#onReceive?.(m);
    if (codec.isReply(m.header)) {
      const p = this.#pending.get(m.header.id);
      if (!p) {
        this.unexpectedReplies++;
        for (const fd of m.fds) closeFd(fd);
        return;
      }
      this.#pending.delete(m.header.id);
      clearTimeout(p.timer);
      if (m.header.flags & HeaderFlags.ERROR) {
        for (const fd of m.fds) closeFd(fd);
        p.reject(new VfioUserError(m.header.command, m.header.error));
      } else {
        p.resolve(m);
      }
      return;
    }
    for (const fd of m.fds) closeFd(fd); // server requests carry no fds
    this.#serveDma(m);
  }

  #serveDma(m: Message): void {
    const h = m.header;
    const send = (payload?: Uint8Array) => {
      if (codec.wantsReply(h)) this.#transport.send(codec.reply(h, payload));
    };
    const refuse = (errno: number) => {
      this.dmaServed.refused++;
      if (codec.wantsReply(h)) this.#transport.send(codec.errorReply(h, errno));
    };
    if (h.command !== Command.DMA_READ && h.command !== Command.DMA_WRITE) return refuse(Errno.ENOSYS);
    let a: codec.DmaAccessPayload;
    try {
      a = codec.decodeDmaAccess(m.payload);
    } catch {
      return refuse(Errno.EINVAL);
    }
    const len = Number(a.count);
    const range = this.#memory.find((r) => a.address >= r.address && a.address + a.count <= r.address + BigInt(r.bytes.length));
    if (!range) return refuse(Errno.EFAULT);
    const off = Number(a.address - range.address);
    this.dmaServed.bytes += len;
    if (h.command === Command.DMA_READ) {
      this.dmaServed.reads++;
      send(codec.encodeDmaAccess({ address: a.address, count: a.count, data: range.bytes.subarray(off, off + len) }));
    } else {
      if (a.data.length !== len) return refuse(Errno.EINVAL);
      this.dmaServed.writes++;
      range.bytes.set(a.data, off);
      send(codec.encodeDmaAccess({ address: a.address, count: a.count }));
    }
  }
}
