import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DmaError, type DmaSpace } from '@p2pkit/vfio-user';
import { NvmeController, type NvmeControllerHost, type NvmeControllerOptions } from '../src/index.ts';

export const RAM_BASE = 0x10_0000n;
export const RAM_SIZE = 32 << 20;

/** Guest RAM as a Uint8Array at bus address RAM_BASE; anything else faults with DmaError. */
export class FakeRam implements DmaSpace {
  readonly bytes = new Uint8Array(RAM_SIZE);
  /** Set false to force the asynchronous read/write path. */
  direct = true;
  reads = 0;
  writes = 0;

  private check(address: bigint, length: number): number {
    const off = address - RAM_BASE;
    if (off < 0n || off + BigInt(length) > BigInt(RAM_SIZE)) throw new DmaError('unmapped', address, length, 14);
    return Number(off);
  }

  async read(address: bigint, length: number): Promise<Uint8Array> {
    this.reads++;
    const off = this.check(address, length);
    return this.bytes.slice(off, off + length);
  }

  async write(address: bigint, data: Uint8Array): Promise<void> {
    this.writes++;
    const off = this.check(address, data.byteLength);
    this.bytes.set(data, off);
  }

  directView(address: bigint, length: number): Uint8Array | undefined {
    if (!this.direct) return undefined;
    try {
      const off = this.check(address, length);
      return this.bytes.subarray(off, off + length);
    } catch {
      return undefined;
    }
  }

  view(address: bigint, length: number): Uint8Array {
    const off = this.check(address, length);
    return this.bytes.subarray(off, off + length);
  }
}

export class FakeHost implements NvmeControllerHost {
  readonly dma = new FakeRam();
  readonly interrupts: number[] = [];
  readonly guestErrors: { message: string; detail?: Record<string, unknown> }[] = [];
  readonly deviceErrors: string[] = [];
  raiseInterrupt(vector: number): void {
    this.interrupts.push(vector);
  }
  guestError(message: string, detail?: Record<string, unknown>): void {
    this.guestErrors.push({ message, detail });
  }
  deviceError(message: string): void {
    this.deviceErrors.push(message);
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

/** Where a queue's ring lives: guest RAM or a raw byte array (the CMB seen by the "CPU"). */
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

/** A minimal NVMe host driver that talks to the controller as Linux does. */
export class Driver {
  readonly pairs = new Map<number, QueuePair>();
  private next = RAM_BASE + 0x10_0000n; // keep the first MiB for fixed test buffers
  /** Shadow doorbell buffers, when configured. */
  shadow?: { db: Uint8Array; ei: Uint8Array; dbBus: bigint; eiBus: bigint };
  mmioDoorbells = 0;

  constructor(
    readonly ctrl: NvmeController,
    readonly host: FakeHost,
  ) {}

  get ram(): FakeRam {
    return this.host.dma;
  }

  alloc(size: number, align = 4096): bigint {
    const a = BigInt(align);
    this.next = ((this.next + a - 1n) / a) * a;
    const at = this.next;
    this.next += BigInt(size);
    if (this.next > RAM_BASE + BigInt(RAM_SIZE)) throw new Error('fake RAM exhausted');
    this.ram.view(at, size).fill(0);
    return at;
  }

  read32(off: number): number {
    return Number(this.ctrl.mmioRead(off, 4));
  }
  write32(off: number, v: number): void {
    this.ctrl.mmioWrite(off, 4, BigInt(v >>> 0));
  }
  read64(off: number): bigint {
    return this.ctrl.mmioRead(off, 8);
  }
  write64(off: number, v: bigint): void {
    this.ctrl.mmioWrite(off, 8, v);
  }

  async waitFor(cond: () => boolean, what: string, ms = 3000): Promise<void> {
    const end = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > end) throw new Error(`timeout waiting for ${what}`);
      await new Promise((r) => setImmediate(r));
    }
  }

  /** Linux nvme_pci_configure_admin_queue + nvme_enable_ctrl. */
  async enable(adminSize = 32): Promise<void> {
    const asq = this.alloc(adminSize * 64);
    const acq = this.alloc(adminSize * 16);
    this.write32(0x24, ((adminSize - 1) << 16) | (adminSize - 1));
    this.write64(0x28, asq);
    this.write64(0x30, acq);
    this.write32(0x14, 1 | (6 << 16) | (4 << 20));
    await this.waitFor(() => (this.read32(0x1c) & 1) === 1, 'CSTS.RDY');
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

  private doorbellStride(): number {
    return 4 << Number((this.read64(0) >> 32n) & 0xfn);
  }

  ringSq(p: QueuePair): void {
    const stride = this.doorbellStride();
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
    this.write32(0x1000 + 2 * p.qid * stride, p.sqTail);
  }

  ringCq(p: QueuePair): void {
    const stride = this.doorbellStride();
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
    this.write32(0x1000 + (2 * p.qid + 1) * stride, p.cqHead);
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

  /** Reaps one completion (waits for the phase tag). */
  async reap(qid: number, ms = 3000): Promise<Cqe> {
    const p = this.pairs.get(qid) as QueuePair;
    const v = () => new DataView(p.cq.bytes.buffer, p.cq.bytes.byteOffset + p.cqHead * 16, 16);
    await this.waitFor(() => (v().getUint16(14, true) & 1) === p.phase, `CQE on queue ${qid}`, ms);
    const d = v();
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
    this.ringCq(p);
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
    this.ringSq(this.pairs.get(qid) as QueuePair);
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
    const v = new DataView(this.ram.bytes.buffer, Number(list - RAM_BASE), pages * 8);
    for (let i = 0; i < pages; i++) v.setBigUint64(i * 8, second + BigInt(i * 4096), true);
    return { prp1: buf, prp2: list };
  }
}

export interface Rig {
  ctrl: NvmeController;
  host: FakeHost;
  drv: Driver;
  dir: string;
  cleanup(): Promise<void>;
}

/** A controller with `namespaces` sparse images in a temp dir, plus a driver. */
export async function makeRig(
  opts: Partial<NvmeControllerOptions> & { images?: { size: number; lbaSize?: 512 | 4096 }[]; nsManagement?: boolean } = {},
): Promise<Rig> {
  const dir = await mkdtemp(join(tmpdir(), 'p2pkit-nvme-'));
  if (opts.nsManagement) opts = { ...opts, namespaceDirectory: dir };
  delete opts.nsManagement;
  const images = opts.images ?? [{ size: 8 << 20 }];
  const host = new FakeHost();
  const ctrl = await NvmeController.create(
    {
      serial: 'TEST0001',
      namespaces: images.map((im, i) => ({ path: join(dir, `ns${i + 1}.raw`), sizeBytes: im.size, lbaSize: im.lbaSize ?? 512 })),
      ...Object.fromEntries(Object.entries(opts).filter(([k]) => k !== 'images')),
    },
    host,
  );
  const drv = new Driver(ctrl, host);
  const rig: Rig = {
    ctrl,
    host,
    drv,
    dir,
    async cleanup() {
      await rig.ctrl.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return rig;
}

/** Enable + Number of Queues + one I/O queue pair (qid 1), as Linux's probe does. */
export async function bringUp(rig: Rig, size = 64): Promise<QueuePair> {
  await rig.drv.enable();
  const r = await rig.drv.setFeature(0x07, (3 << 16) | 3);
  if (r.status !== 0) throw new Error('set number of queues failed');
  return rig.drv.createQueuePair(1, size);
}
