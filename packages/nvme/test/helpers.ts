/**
 * Test harness: the NVMe controller served through the real stack, with no guest.
 *
 *   createNvmeEndpoint → VfioUserServer ⇄ MemoryTransport.pair() ⇄ VfioUserClient
 *
 * The client does what QEMU + Linux do: guest RAM is a memfd DMA_MAPped with its fd (the controller
 * reads SQEs / writes CQEs and data in place), MSI-X vectors are eventfds bound with SET_IRQS, Bus
 * Master Enable is a config-space write, and every register / doorbell access is a REGION_READ or
 * REGION_WRITE on BAR0. The {@link Driver} plays the guest CPU: it writes SQEs and reads CQEs and data
 * directly in the memfd (`ram.bytes`), at bus addresses RAM_BASE + offset.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventFd, MappedRegion, SharedMemory, closeFd } from '@p2pkit/native';
import { IrqIndex, recordingLogger, type RecordingLogger } from '@p2pkit/base';
import { IrqSetFlags, MemoryTransport, RegionIndex, VfioUserClient, VfioUserServer } from '@p2pkit/vfio-user';
import { createNvmeEndpoint, type NvmeController, type NvmeEndpoint, type NvmeEndpointOptions } from '../src/index.ts';

export const RAM_BASE = 0x10_0000n;
export const RAM_SIZE = 32 << 20;

/** Guest RAM: a memfd this process maps (the "guest CPU") and DMA_MAPs to the server. */
export class GuestRam {
  readonly memory: SharedMemory;
  constructor(
    readonly base = RAM_BASE,
    readonly size = RAM_SIZE,
  ) {
    this.memory = SharedMemory.create('guest-ram', size);
  }

  /** The whole RAM; byte `i` is at bus address `base + i`. */
  get bytes(): Uint8Array {
    return this.memory.bytes;
  }

  /** The guest CPU's view of `[address, address + length)`. */
  view(address: bigint, length: number): Uint8Array {
    const off = address - this.base;
    if (off < 0n || off + BigInt(length) > BigInt(this.size)) throw new RangeError(`0x${address.toString(16)}+${length} is not guest RAM`);
    return this.bytes.subarray(Number(off), Number(off) + length);
  }

  close(): void {
    this.memory.close();
  }
}

/** One eventfd per MSI-X vector (or one for INTx); counts accumulate as they are drained. */
export class InterruptFds {
  readonly fds: EventFd[];
  readonly counts: number[];
  constructor(n: number) {
    this.fds = Array.from({ length: n }, () => EventFd.create());
    this.counts = new Array<number>(n).fill(0);
  }

  /** Drains every eventfd into `counts`. */
  poll(): void {
    this.fds.forEach((fd, v) => {
      this.counts[v] = (this.counts[v] ?? 0) + Number(fd.drain());
    });
  }

  count(vector: number): number {
    this.poll();
    return this.counts[vector] ?? 0;
  }

  /** Vectors signalled since the last {@link clear}. */
  fired(): number[] {
    this.poll();
    return this.counts.flatMap((c, v) => (c > 0 ? [v] : []));
  }

  clear(): void {
    this.poll();
    this.counts.fill(0);
  }

  close(): void {
    for (const fd of this.fds) fd.close();
  }
}

/**
 * What the tests observe of the host side: interrupts as eventfd counts, guest errors from the
 * server's `guest` log channel (the "<endpoint name>: nvme: " prefix removed), device errors from the
 * server's `device` channel and from the endpoint's own logger (used while no client is attached).
 */
export class HostView {
  readonly detachedDeviceErrors: string[] = [];

  /** Every device-bug report, wherever it was logged. */
  get deviceErrors(): string[] {
    return [...this.detachedDeviceErrors, ...this.log.entries.filter((e) => e.channel === 'device').map((e) => e.message)];
  }

  constructor(
    readonly log: RecordingLogger,
    readonly irq: InterruptFds,
  ) {}

  /** Vectors whose eventfd was signalled since {@link clearInterrupts}. */
  get interrupts(): number[] {
    return this.irq.fired();
  }

  clearInterrupts(): void {
    this.irq.clear();
  }

  get guestErrors(): { message: string; detail?: Record<string, unknown> }[] {
    return this.log.entries
      .filter((e) => e.channel === 'guest')
      .map((e) => ({ message: e.message.replace(/^[^:]*: nvme: /, ''), ...(e.detail ? { detail: e.detail } : {}) }));
  }
}

export interface Cqe {
  dw0: number;
  dw1: number;
  sqhd: number;
  sqid: number;
  cid: number;
  /** 15-bit status field without DNR/M/CRD: (SCT << 8) | SC. */
  status: number;
  dnr: boolean;
}

export interface Sqe {
  opcode: number;
  nsid?: number;
  cdw0Flags?: number; // byte 1 of CDW0: FUSE bits 1:0, PSDT bits 7:6
  prp1?: bigint;
  prp2?: bigint;
  /** Raw 16-byte DPTR (SGL1), overrides prp1/prp2. */
  sgl?: Uint8Array;
  cdw10?: number;
  cdw11?: number;
  cdw12?: number;
  cdw13?: number;
  cdw14?: number;
  cdw15?: number;
  mptr?: bigint;
}

export function encodeSqe(s: Sqe, cid: number): Uint8Array {
  const b = new Uint8Array(64);
  const v = new DataView(b.buffer);
  v.setUint8(0, s.opcode);
  v.setUint8(1, s.cdw0Flags ?? 0);
  v.setUint16(2, cid, true);
  v.setUint32(4, s.nsid ?? 0, true);
  v.setBigUint64(16, s.mptr ?? 0n, true);
  if (s.sgl) b.set(s.sgl, 24);
  else {
    v.setBigUint64(24, s.prp1 ?? 0n, true);
    v.setBigUint64(32, s.prp2 ?? 0n, true);
  }
  [s.cdw10, s.cdw11, s.cdw12, s.cdw13, s.cdw14, s.cdw15].forEach((d, i) => {
    v.setUint32(40 + i * 4, (d ?? 0) >>> 0, true);
  });
  return b;
}

export function sglDescriptor(address: bigint, length: number, type: number, subtype = 0): Uint8Array {
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  v.setBigUint64(0, address, true);
  v.setUint32(8, length, true);
  v.setUint8(15, (type << 4) | subtype);
  return b;
}

/** Where a queue's ring lives: guest RAM or other CPU-visible bytes (the CMB mapped from BAR2). */
interface Ring {
  bus: bigint;
  bytes: Uint8Array;
}

export class QueuePair {
  sqTail = 0;
  cqHead = 0;
  phase = 1;
  nextCid = 1;
  constructor(
    readonly qid: number,
    readonly size: number,
    readonly sq: Ring,
    readonly cq: Ring,
    readonly cqSize = size,
  ) {}
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const le64 = (v: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt.asUintN(64, v));
  return b;
};

/** A minimal NVMe host driver that talks to the controller as Linux does, through the vfio-user client. */
export class Driver {
  readonly pairs = new Map<number, QueuePair>();
  private next: bigint;
  private stride: number | undefined;
  /** Shadow doorbell buffers, when configured. */
  shadow?: { db: Uint8Array; ei: Uint8Array; dbBus: bigint; eiBus: bigint };
  mmioDoorbells = 0;

  constructor(
    readonly client: VfioUserClient,
    readonly ram: GuestRam,
  ) {
    this.next = ram.base + 0x10_0000n; // keep the first MiB for fixed test buffers
  }

  alloc(size: number, align = 4096): bigint {
    const a = BigInt(align);
    this.next = ((this.next + a - 1n) / a) * a;
    const at = this.next;
    this.next += BigInt(size);
    if (this.next > this.ram.base + BigInt(this.ram.size)) throw new Error('guest RAM exhausted');
    this.ram.view(at, size).fill(0);
    return at;
  }

  /** BAR0 read of 1, 2, 4 or 8 bytes (REGION_READ). */
  async read(off: number, size: 1 | 2 | 4 | 8): Promise<bigint> {
    const b = await this.client.regionRead(RegionIndex.BAR0, off, size);
    let v = 0n;
    for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i] as number);
    return v;
  }
  read32(off: number): Promise<number> {
    return this.client.read32(RegionIndex.BAR0, off);
  }
  write32(off: number, v: number): Promise<void> {
    return this.client.write32(RegionIndex.BAR0, off, v);
  }
  async read64(off: number): Promise<bigint> {
    return (await this.client.regionRead(RegionIndex.BAR0, off, 8)).readBigUInt64LE(0);
  }
  write64(off: number, v: bigint): Promise<void> {
    return this.client.regionWrite(RegionIndex.BAR0, off, le64(v));
  }

  async waitFor(cond: () => boolean | Promise<boolean>, what: string, ms = 3000): Promise<void> {
    const end = Date.now() + ms;
    while (!(await cond())) {
      if (Date.now() > end) throw new Error(`timeout waiting for ${what}`);
      await new Promise((r) => setImmediate(r));
    }
  }

  /** Linux nvme_pci_configure_admin_queue + nvme_enable_ctrl. */
  async enable(adminSize = 32): Promise<void> {
    const asq = this.alloc(adminSize * 64);
    const acq = this.alloc(adminSize * 16);
    await this.write32(0x24, ((adminSize - 1) << 16) | (adminSize - 1));
    await this.write64(0x28, asq);
    await this.write64(0x30, acq);
    await this.write32(0x14, 1 | (6 << 16) | (4 << 20));
    await this.waitFor(async () => ((await this.read32(0x1c)) & 1) === 1, 'CSTS.RDY');
    this.pairs.set(
      0,
      new QueuePair(
        0,
        adminSize,
        { bus: asq, bytes: this.ram.view(asq, adminSize * 64) },
        { bus: acq, bytes: this.ram.view(acq, adminSize * 16) },
      ),
    );
  }

  /** Doorbell stride from CAP.DSTRD (read once: CAP is read-only). */
  private async doorbellStride(): Promise<number> {
    this.stride ??= 4 << Number(((await this.read64(0)) >> 32n) & 0xfn);
    return this.stride;
  }

  async ringSq(p: QueuePair): Promise<void> {
    const stride = await this.doorbellStride();
    if (this.shadow && p.qid !== 0) {
      const dv = new DataView(this.shadow.db.buffer, this.shadow.db.byteOffset);
      const ev = new DataView(this.shadow.ei.buffer, this.shadow.ei.byteOffset);
      const old = dv.getUint32(2 * p.qid * stride, true);
      dv.setUint32(2 * p.qid * stride, p.sqTail, true);
      const eventIdx = ev.getUint32(2 * p.qid * stride, true);
      // nvme_dbbuf_need_event
      if (((p.sqTail - eventIdx - 1) & 0xffff) >= ((p.sqTail - old) & 0xffff)) return;
    }
    this.mmioDoorbells++;
    await this.write32(0x1000 + 2 * p.qid * stride, p.sqTail);
  }

  async ringCq(p: QueuePair): Promise<void> {
    const stride = await this.doorbellStride();
    if (this.shadow && p.qid !== 0) {
      const dv = new DataView(this.shadow.db.buffer, this.shadow.db.byteOffset);
      const ev = new DataView(this.shadow.ei.buffer, this.shadow.ei.byteOffset);
      const slot = (2 * p.qid + 1) * stride;
      const old = dv.getUint32(slot, true);
      dv.setUint32(slot, p.cqHead, true);
      const eventIdx = ev.getUint32(slot, true);
      if (((p.cqHead - eventIdx - 1) & 0xffff) >= ((p.cqHead - old) & 0xffff)) return;
    }
    this.mmioDoorbells++;
    await this.write32(0x1000 + (2 * p.qid + 1) * stride, p.cqHead);
  }

  /** Places a command in the SQ without ringing. Returns its CID. */
  place(qid: number, s: Sqe): number {
    const p = this.pairs.get(qid);
    if (!p) throw new Error(`no queue ${qid}`);
    const cid = p.nextCid++ & 0xffff;
    p.sq.bytes.set(encodeSqe(s, cid), p.sqTail * 64);
    p.sqTail = (p.sqTail + 1) % p.size;
    return cid;
  }

  /** Whether the next CQE of `qid` has been posted (phase tag), without consuming it. */
  posted(qid: number): boolean {
    const p = this.pairs.get(qid) as QueuePair;
    return (new DataView(p.cq.bytes.buffer, p.cq.bytes.byteOffset + p.cqHead * 16, 16).getUint16(14, true) & 1) === p.phase;
  }

  /** Reaps one completion (waits for the phase tag), then rings the CQ head doorbell. */
  /** Reaps one completion; `ring: false` leaves the CQ head doorbell (MMIO and shadow) untouched. */
  async reap(qid: number, ms = 3000, ring = true): Promise<Cqe> {
    const p = this.pairs.get(qid) as QueuePair;
    await this.waitFor(() => this.posted(qid), `CQE on queue ${qid}`, ms);
    const d = new DataView(p.cq.bytes.buffer, p.cq.bytes.byteOffset + p.cqHead * 16, 16);
    const sf = d.getUint16(14, true) >>> 1;
    const cqe: Cqe = {
      dw0: d.getUint32(0, true),
      dw1: d.getUint32(4, true),
      sqhd: d.getUint16(8, true),
      sqid: d.getUint16(10, true),
      cid: d.getUint16(12, true),
      status: sf & 0x7ff,
      dnr: (sf & 0x4000) !== 0,
    };
    p.cqHead = (p.cqHead + 1) % p.cqSize;
    if (p.cqHead === 0) p.phase ^= 1;
    if (ring) await this.ringCq(p);
    return cqe;
  }

  /** Completions reaped while waiting for another CID (e.g. AERs). */
  readonly unclaimed: Cqe[] = [];

  /** Waits for the completion of `cid` on `qid`, keeping others in `unclaimed`. */
  async take(qid: number, cid: number, ms = 3000): Promise<Cqe> {
    for (;;) {
      const i = this.unclaimed.findIndex((c) => c.sqid === qid && c.cid === cid);
      if (i >= 0) return this.unclaimed.splice(i, 1)[0] as Cqe;
      const cqe = await this.reap(qid, ms);
      if (cqe.cid === cid) return cqe;
      this.unclaimed.push(cqe);
    }
  }

  async submit(qid: number, s: Sqe): Promise<Cqe> {
    const cid = this.place(qid, s);
    await this.ringSq(this.pairs.get(qid) as QueuePair);
    return this.take(qid, cid);
  }

  admin(s: Sqe): Promise<Cqe> {
    return this.submit(0, s);
  }

  /** Create I/O CQ + SQ (nvme_create_queue); `sqRing` overrides where the SQ lives (e.g. CMB). */
  async createQueuePair(qid: number, size: number, opts: { vector?: number; sqRing?: Ring; ien?: boolean } = {}): Promise<QueuePair> {
    const cqBus = this.alloc(size * 16);
    const vector = opts.vector ?? qid;
    let r = await this.admin({
      opcode: 0x05,
      prp1: cqBus,
      cdw10: ((size - 1) << 16) | qid,
      cdw11: (vector << 16) | ((opts.ien ?? true) ? 2 : 0) | 1,
    });
    if (r.status !== 0) throw new Error(`create CQ failed 0x${r.status.toString(16)}`);
    const sqRing =
      opts.sqRing ??
      (() => {
        const bus = this.alloc(size * 64);
        return { bus, bytes: this.ram.view(bus, size * 64) };
      })();
    r = await this.admin({ opcode: 0x01, prp1: sqRing.bus, cdw10: ((size - 1) << 16) | qid, cdw11: (qid << 16) | 1 });
    if (r.status !== 0) throw new Error(`create SQ failed 0x${r.status.toString(16)}`);
    const p = new QueuePair(qid, size, sqRing, { bus: cqBus, bytes: this.ram.view(cqBus, size * 16) });
    this.pairs.set(qid, p);
    return p;
  }

  /** Identify into a fresh 4 KiB buffer. */
  async identify(cns: number, nsid = 0, cdw11 = 0): Promise<{ cqe: Cqe; data: Uint8Array }> {
    const buf = this.alloc(4096);
    const cqe = await this.admin({ opcode: 0x06, nsid, prp1: buf, cdw10: cns, cdw11 });
    return { cqe, data: this.ram.view(buf, 4096).slice() };
  }

  async setFeature(fid: number, cdw11: number, nsid = 0): Promise<Cqe> {
    return this.admin({ opcode: 0x09, nsid, cdw10: fid, cdw11 });
  }

  async getFeature(fid: number, sel = 0, cdw11 = 0): Promise<Cqe> {
    return this.admin({ opcode: 0x0a, cdw10: fid | (sel << 8), cdw11 });
  }

  async getLog(
    lid: number,
    bytes: number,
    opts: { nsid?: number; rae?: boolean; offset?: number } = {},
  ): Promise<{ cqe: Cqe; data: Uint8Array }> {
    const buf = this.alloc(Math.max(4096, bytes));
    const numd = bytes / 4 - 1;
    const cqe = await this.admin({
      opcode: 0x02,
      nsid: opts.nsid ?? 0xffffffff,
      prp1: buf,
      prp2: bytes > 4096 ? buf + 4096n : 0n,
      cdw10: lid | (opts.rae ? 1 << 15 : 0) | ((numd & 0xffff) << 16),
      cdw11: numd >>> 16,
      cdw12: opts.offset ?? 0,
    });
    return { cqe, data: this.ram.view(buf, bytes).slice() };
  }

  /** Read/write with a contiguous RAM buffer described by PRPs (list built when needed). */
  async rw(
    qid: number,
    opcode: 1 | 2,
    nsid: number,
    slba: bigint,
    nlb: number,
    buf: bigint,
    bytes: number,
    extra: Partial<Sqe> = {},
  ): Promise<Cqe> {
    const { prp1, prp2 } = this.prps(buf, bytes);
    return this.submit(qid, {
      opcode,
      nsid,
      prp1,
      prp2,
      cdw10: Number(slba & 0xffffffffn),
      cdw11: Number(slba >> 32n),
      cdw12: nlb - 1,
      ...extra,
    });
  }

  /** PRP1/PRP2 for a contiguous buffer (4 KiB pages), building a PRP list in RAM when needed. */
  prps(buf: bigint, bytes: number): { prp1: bigint; prp2: bigint } {
    const first = 4096 - Number(buf % 4096n);
    if (bytes <= first) return { prp1: buf, prp2: 0n };
    const rest = bytes - first;
    const second = buf + BigInt(first);
    if (rest <= 4096) return { prp1: buf, prp2: second };
    const pages = Math.ceil(rest / 4096);
    const list = this.alloc(pages * 8);
    const v = new DataView(this.ram.bytes.buffer, Number(list - this.ram.base), pages * 8);
    for (let i = 0; i < pages; i++) v.setBigUint64(i * 8, second + BigInt(i * 4096), true);
    return { prp1: buf, prp2: list };
  }
}

export interface Rig {
  nvme: NvmeEndpoint;
  /** The controller behind the endpoint: stats, extension API, simulation knobs (temperature). */
  ctrl: NvmeController;
  server: VfioUserServer;
  client: VfioUserClient;
  log: RecordingLogger;
  ram: GuestRam;
  irq: InterruptFds;
  host: HostView;
  drv: Driver;
  dir: string;
  /** Config-space accessors (REGION_READ/WRITE on the CONFIG region). */
  cfgRead32(off: number): Promise<number>;
  cfgWrite32(off: number, v: number): Promise<void>;
  /** pci_set_master + memory decode: Command = MSE | BME (again after a reset). */
  enableBusMaster(): Promise<void>;
  /** The guest CPU's mapping of a memory BAR (GET_REGION_INFO fd + mmap), as QEMU maps it. */
  mapBar(index: 2 | 4): Promise<Uint8Array>;
  /** Disconnects the client and closes the endpoint; keeps `dir` (reopen tests). */
  close(): Promise<void>;
  /** close() + removes `dir`. */
  cleanup(): Promise<void>;
}

export type RigOptions = Partial<Omit<NvmeEndpointOptions, 'pmr'>> & {
  images?: { size: number; lbaSize?: 512 | 4096 }[];
  nsManagement?: boolean;
  /** PMR in BAR4 backed by `path` (default `<dir>/pmr.bin`). */
  pmr?: { size: number; path?: string };
  /** Reuse a directory (reopen after {@link Rig.close}). */
  dir?: string;
  /**
   * 'fd' (default): guest RAM DMA_MAPped with its memfd (zero-copy, like QEMU with
   * memory-backend-memfd). 'messages': mapped without an fd, so every DMA is a DMA_READ/DMA_WRITE
   * message answered by the client from the same bytes.
   */
  dma?: 'fd' | 'messages';
  /** 'msix' (default, like Linux): one eventfd per vector. 'intx': one eventfd on the INTx pin. */
  irq?: 'msix' | 'intx';
  /** How many MSI-X vectors get an eventfd (default 16). */
  vectors?: number;
};

/** An NVMe endpoint with `images` sparse namespaces in a temp dir, served to a vfio-user client. */
export async function makeRig(opts: RigOptions = {}): Promise<Rig> {
  const { images: imagesOpt, nsManagement, pmr, dir: dirOpt, dma = 'fd', irq: irqMode = 'msix', vectors = 16, ...rest } = opts;
  const dir = dirOpt ?? (await mkdtemp(join(tmpdir(), 'p2pkit-nvme-')));
  const images = imagesOpt ?? [{ size: 8 << 20 }];
  const log = recordingLogger();
  const irq = new InterruptFds(irqMode === 'msix' ? vectors : 1);
  const host = new HostView(log, irq);
  const nvme = await createNvmeEndpoint(
    {
      serial: 'TEST0001',
      namespaces: images.map((im, i) => ({ path: join(dir, `ns${i + 1}.raw`), sizeBytes: im.size, lbaSize: im.lbaSize ?? 512 })),
      ...(nsManagement ? { namespaceDirectory: dir } : {}),
      ...(pmr ? { pmr: { path: pmr.path ?? join(dir, 'pmr.bin'), size: pmr.size } } : {}),
      ...rest,
    },
    { logger: { deviceError: (e, where) => host.detachedDeviceErrors.push(`${where}: ${String(e)}`), guestError: (m, d) => log.guest(m, d) } },
  );
  const server = new VfioUserServer(nvme.endpoint, { logger: log });
  const [a, b] = MemoryTransport.pair();
  server.serve(b);
  const client = new VfioUserClient(a);
  await client.negotiate();

  const ram = new GuestRam();
  if (dma === 'fd') await client.dmaMap({ address: ram.base, size: BigInt(ram.size), flags: 3, fd: ram.memory.fd.fd });
  else {
    client.exposeMemory(ram.base, ram.bytes);
    await client.dmaMap({ address: ram.base, size: BigInt(ram.size), flags: 3 });
  }
  const fds = irq.fds.map((e) => e.fd);
  await client.setIrqs({
    index: irqMode === 'msix' ? IrqIndex.MSIX : IrqIndex.INTX,
    flags: IrqSetFlags.DATA_EVENTFD | IrqSetFlags.ACTION_TRIGGER,
    start: 0,
    count: fds.length,
    fds,
  });
  const drv = new Driver(client, ram);
  const maps: MappedRegion[] = [];
  let closed = false;
  const rig: Rig = {
    nvme,
    ctrl: nvme.controller,
    server,
    client,
    log,
    ram,
    irq,
    host,
    drv,
    dir,
    cfgRead32: (off) => client.read32(RegionIndex.CONFIG, off),
    cfgWrite32: (off, v) => client.write32(RegionIndex.CONFIG, off, v),
    enableBusMaster: () => client.write32(RegionIndex.CONFIG, 4, 0x6),
    async mapBar(index) {
      const info = await client.regionInfo(index);
      if (info.fd === undefined) throw new Error(`BAR${index} has no fd`);
      const map = MappedRegion.map(info.fd, 0, Number(info.size));
      closeFd(info.fd);
      maps.push(map);
      return map.bytes;
    },
    async close() {
      if (closed) return;
      closed = true;
      client.close();
      await client.whenClosed();
      await new Promise((r) => setImmediate(r)); // the session ends and detaches the device
      await nvme.close();
      for (const m of maps) m.unmap();
      ram.close();
      irq.close();
    },
    async cleanup() {
      await rig.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  await rig.enableBusMaster();
  return rig;
}

/** Enable + Number of Queues + one I/O queue pair (qid 1), as Linux's probe does. */
export async function bringUp(rig: Rig, size = 64): Promise<QueuePair> {
  await rig.drv.enable();
  const r = await rig.drv.setFeature(0x07, (3 << 16) | 3);
  if (r.status !== 0) throw new Error('set number of queues failed');
  return rig.drv.createQueuePair(1, size);
}
