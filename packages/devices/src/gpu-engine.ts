/**
 * The GPU stub's engine: the immediate copy (CE_* registers) and the descriptor queue (Q_*
 * registers) with its COPY and COMPUTE descriptors. Bus ranges inside the GPU's own VRAM are served
 * locally; everything else goes through `dev.dma` (on a fabric: routed, peers directly below a
 * switch, RAM via the host).
 */
import { DmaError, hex } from '@p2pkit/base';
import { DmaRefusedError, type EndpointHandle } from '@p2pkit/pci';

// biome-ignore format: register map
export const GpuReg = {
  ID: 0x00, VERSION: 0x04, VRAM_SIZE: 0x08, SCRATCH: 0x10, CE_SRC: 0x20, CE_DST: 0x28, CE_LEN: 0x30,
  CE_GO: 0x34, CE_STATUS: 0x38, CE_ERROR: 0x3c, CE_COPIES: 0x40, CE_BYTES: 0x48,
  Q_BASE: 0x80, Q_SIZE: 0x88, Q_HEAD: 0x8c, Q_TAIL: 0x90, Q_STATUS: 0x94, Q_DONE: 0x98, Q_ERRORS: 0x9c, KERNELS: 0xa0,
} as const;
/** CE_STATUS bits. */
export const CeStatus = { BUSY: 1, DONE: 2, ERROR: 4 } as const;
/** Q_STATUS bits: BUSY while the queue runs, ERROR (sticky, write 1 to clear) after a failed descriptor. */
export const QueueStatus = { BUSY: 1, ERROR: 2 } as const;
/** Byte offsets inside a 64-byte queue descriptor. */
// biome-ignore format: layout
export const GpuDesc = {
  SIZE: 64, OP: 0x00, FLAGS: 0x04, SRC: 0x08, DST: 0x10, LENGTH: 0x18, KERNEL: 0x1c, ARG0: 0x20, ARG1: 0x28,
  STATUS: 0x30, RESULT: 0x34,
} as const;
/** Descriptor operations: COPY `length` bytes SRC → DST (bus addresses); COMPUTE runs kernel KERNEL over VRAM [SRC, +length). */
export const GpuOp = { NOP: 0, COPY: 1, COMPUTE: 2 } as const;
/** Descriptor FLAGS: IRQ raises MSI-X vector 0 once the descriptor is done. */
export const GpuDescFlags = { IRQ: 1 } as const;
/** Descriptor STATUS written back by the engine: DONE, or ERROR with the errno in bits 31:16. */
export const GpuDescStatus = { DONE: 1, ERROR: 2 } as const;
export const GPU_VRAM_BAR = 2;
/** Largest queue (descriptors). */
export const MAX_QUEUE = 4096;

/** Arguments of a compute kernel: the descriptor's ARG0 and ARG1. */
export interface GpuKernelArgs {
  readonly arg0: bigint;
  readonly arg1: bigint;
}

/**
 * A compute hook: runs over `range`, a view of VRAM (changes land in VRAM, peers see them at
 * once). Returns the 32-bit RESULT written back into the descriptor (default 0). It runs on the
 * server's event loop: a long kernel should await now and then (e.g. per MiB), or register reads
 * wait for it.
 */
export type GpuKernel = (range: Uint8Array, args: GpuKernelArgs) => number | undefined | Promise<number | undefined>;

export interface GpuState {
  regs: DataView;
  /** Bumped by reset: work of an older generation stops touching registers and memory. */
  generation: number;
  queueRunning: boolean;
  readonly kernels: ReadonlyMap<number, GpuKernel>;
}

const EPERM = 1;
const EIO = 5;
const EFAULT = 14;
const EINVAL = 22;
const ENOSYS = 38;
/** Largest piece the engine moves at once (QEMU's max_data_xfer_size). */
const CHUNK = 1 << 20;

/**
 * Lets the event loop run (socket reads, MMIO replies). Transfers between memfd-backed memories
 * resolve without I/O, so a long copy would otherwise starve the vfio-user sessions and QEMU would
 * give up waiting for a register read.
 */
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** An engine failure with the errno the guest sees. */
class EngineError extends Error {
  constructor(
    message: string,
    readonly errno: number,
  ) {
    super(message);
  }
}

/** VRAM offset of [address, +length) when it lies entirely in this GPU's BAR2; throws EINVAL when it straddles the edge. */
function vramOffset(dev: EndpointHandle, address: bigint, length: number): number | undefined {
  const bar = dev.bar(GPU_VRAM_BAR);
  if (bar.address === undefined) return undefined;
  const end = bar.address + BigInt(bar.size);
  if (address >= bar.address && address + BigInt(length) <= end) return Number(address - bar.address);
  if (address < end && address + BigInt(length) > bar.address)
    throw new DmaError('range straddles the VRAM boundary', address, length, EINVAL);
  return undefined;
}

async function busRead(dev: EndpointHandle, address: bigint, length: number): Promise<Uint8Array> {
  const at = vramOffset(dev, address, length);
  return at === undefined ? dev.dma.read(address, length) : dev.memory(GPU_VRAM_BAR).slice(at, at + length);
}

async function busWrite(dev: EndpointHandle, address: bigint, data: Uint8Array): Promise<void> {
  const at = vramOffset(dev, address, data.length);
  if (at === undefined) await dev.dma.write(address, data);
  else dev.memory(GPU_VRAM_BAR).set(data, at);
}

const errnoOf = (e: unknown) =>
  e instanceof EngineError || e instanceof DmaError ? e.errno : e instanceof DmaRefusedError ? EPERM : EFAULT;

/** Copies `length` bytes src → dst in chunks; false when a reset overtook it. */
async function copyRange(dev: EndpointHandle, s: GpuState, src: bigint, dst: bigint, length: number): Promise<boolean> {
  const generation = s.generation;
  for (let done = 0; done < length; ) {
    const n = Math.min(CHUNK, length - done);
    const data = await busRead(dev, src + BigInt(done), n);
    if (s.generation !== generation) return false;
    await busWrite(dev, dst + BigInt(done), data);
    await yieldToEventLoop();
    if (s.generation !== generation) return false;
    done += n;
  }
  return true;
}

/** The immediate copy started by CE_GO: CE_STATUS DONE or ERROR, then MSI-X vector 0. */
export async function immediateCopy(dev: EndpointHandle, s: GpuState): Promise<void> {
  const { regs, generation } = s;
  const src = regs.getBigUint64(GpuReg.CE_SRC, true);
  const dst = regs.getBigUint64(GpuReg.CE_DST, true);
  const length = regs.getUint32(GpuReg.CE_LEN, true);
  let errno = 0;
  try {
    if (!(await copyRange(dev, s, src, dst, length))) return;
  } catch (e) {
    if (s.generation !== generation) return;
    errno = errnoOf(e);
    dev.guestError(`gpu: copy of ${length} bytes ${hex(src)} → ${hex(dst)} failed: ${(e as Error).message}`, { errno });
  }
  regs.setUint32(GpuReg.CE_ERROR, errno, true);
  if (errno === 0) {
    regs.setUint32(GpuReg.CE_COPIES, regs.getUint32(GpuReg.CE_COPIES, true) + 1, true);
    regs.setBigUint64(GpuReg.CE_BYTES, regs.getBigUint64(GpuReg.CE_BYTES, true) + BigInt(length), true);
  }
  regs.setUint32(GpuReg.CE_STATUS, errno === 0 ? CeStatus.DONE : CeStatus.ERROR, true);
  dev.raise(0);
}

/** Runs one descriptor; returns RESULT, or undefined when a reset overtook it. Throws EngineError/DmaError. */
async function execute(dev: EndpointHandle, s: GpuState, d: DataView): Promise<number | undefined> {
  const op = d.getUint32(GpuDesc.OP, true);
  const length = d.getUint32(GpuDesc.LENGTH, true);
  const src = d.getBigUint64(GpuDesc.SRC, true);
  if (op === GpuOp.NOP) return 0;
  if (op === GpuOp.COPY) {
    const copied = await copyRange(dev, s, src, d.getBigUint64(GpuDesc.DST, true), length);
    if (copied) s.regs.setBigUint64(GpuReg.CE_BYTES, s.regs.getBigUint64(GpuReg.CE_BYTES, true) + BigInt(length), true);
    return copied ? 0 : undefined;
  }
  if (op !== GpuOp.COMPUTE) throw new EngineError(`unknown descriptor op ${op}`, EINVAL);
  const id = d.getUint32(GpuDesc.KERNEL, true);
  const kernel = s.kernels.get(id);
  if (!kernel) throw new EngineError(`no compute kernel ${id}`, ENOSYS);
  const vram = dev.memory(GPU_VRAM_BAR);
  if (src + BigInt(length) > BigInt(vram.length)) throw new EngineError(`compute range ${hex(src)}+${length} outside VRAM`, EINVAL);
  const args = { arg0: d.getBigUint64(GpuDesc.ARG0, true), arg1: d.getBigUint64(GpuDesc.ARG1, true) };
  try {
    return ((await kernel(vram.subarray(Number(src), Number(src) + length), args)) ?? 0) >>> 0;
  } catch (e) {
    // The kernel is device code: its failure is a device-model bug, reported as EIO to the guest.
    dev.deviceError(`gpu: compute kernel ${id} threw: ${(e as Error)?.message ?? String(e)}`);
    throw new EngineError(`compute kernel ${id} failed`, EIO);
  }
}

const bump = (r: DataView, off: number) => r.setUint32(off, (r.getUint32(off, true) + 1) >>> 0, true);

/** Runs descriptors Q_HEAD..Q_TAIL-1 in order, writing STATUS/RESULT back into each. */
export async function runQueue(dev: EndpointHandle, s: GpuState): Promise<void> {
  if (s.queueRunning) return;
  s.queueRunning = true;
  const { regs: r, generation } = s;
  r.setUint32(GpuReg.Q_STATUS, r.getUint32(GpuReg.Q_STATUS, true) | QueueStatus.BUSY, true);
  try {
    for (;;) {
      const [head, size] = [r.getUint32(GpuReg.Q_HEAD, true), r.getUint32(GpuReg.Q_SIZE, true)];
      if (head === r.getUint32(GpuReg.Q_TAIL, true) || head >= size) break;
      const at = r.getBigUint64(GpuReg.Q_BASE, true) + BigInt(head * GpuDesc.SIZE);
      let status: number = GpuDescStatus.DONE;
      let result = 0;
      let irq = false;
      try {
        const d = new DataView((await busRead(dev, at, GpuDesc.SIZE)).slice().buffer);
        irq = (d.getUint32(GpuDesc.FLAGS, true) & GpuDescFlags.IRQ) !== 0;
        if (s.generation !== generation) return;
        const out = await execute(dev, s, d);
        if (out === undefined || s.generation !== generation) return;
        result = out;
      } catch (e) {
        if (s.generation !== generation) return;
        status = GpuDescStatus.ERROR | (errnoOf(e) << 16);
        dev.guestError(`gpu: descriptor ${head} at ${hex(at)}: ${(e as Error).message}`, { errno: errnoOf(e) });
      }
      const back = new DataView(new ArrayBuffer(8));
      back.setUint32(0, status, true);
      back.setUint32(4, result, true);
      try {
        await busWrite(dev, at + BigInt(GpuDesc.STATUS), new Uint8Array(back.buffer));
      } catch (e) {
        dev.guestError(`gpu: descriptor ${head} write-back at ${hex(at)}: ${(e as Error).message}`);
      }
      if (s.generation !== generation) return;
      if (r.getUint32(GpuReg.Q_HEAD, true) === head) r.setUint32(GpuReg.Q_HEAD, (head + 1) % size, true); // unless re-initialised
      bump(r, GpuReg.Q_DONE);
      if (status !== GpuDescStatus.DONE) {
        bump(r, GpuReg.Q_ERRORS);
        r.setUint32(GpuReg.Q_STATUS, r.getUint32(GpuReg.Q_STATUS, true) | QueueStatus.ERROR, true);
      }
      if (irq) dev.raise(0);
      if (r.getUint32(GpuReg.Q_HEAD, true) === r.getUint32(GpuReg.Q_TAIL, true)) break; // idle: BUSY clears now
      await yieldToEventLoop();
    }
  } finally {
    if (s.generation === generation) {
      s.queueRunning = false;
      r.setUint32(GpuReg.Q_STATUS, r.getUint32(GpuReg.Q_STATUS, true) & ~QueueStatus.BUSY, true);
    }
  }
}
