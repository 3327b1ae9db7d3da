/**
 * A GPU stub (class 0x030200, 3D controller): VRAM peers can DMA into, a copy engine that moves
 * bytes between any two bus addresses, and compute hooks — TypeScript functions over a VRAM range —
 * run from a descriptor queue. It renders nothing; it exists to be a P2PDMA source/target.
 *
 * BAR0 (16 KiB, 32-bit MMIO, little-endian; MSI-X table @0x2000, PBA @0x3000, 1 vector):
 *   0x00 ID        ro  0x50473250 ("P2GP")          0x04 VERSION ro  0x00020000 (2.0)
 *   0x08 VRAM_SIZE ro  64-bit, bytes of BAR2        0x10 SCRATCH rw
 *   Immediate copy:
 *   0x20 CE_SRC    rw  64-bit source bus address    0x28 CE_DST  rw  64-bit destination bus address
 *   0x30 CE_LEN    rw  bytes                        0x34 CE_GO   wo  write 1 = start (ignored while busy)
 *   0x38 CE_STATUS     bit0 BUSY (ro), bit1 DONE, bit2 ERROR (write 1s to clear DONE/ERROR)
 *   0x3c CE_ERROR  ro  errno of the last failure (EFAULT 14, EPERM 1, ...), 0 after a success
 *   0x40 CE_COPIES ro  finished copies              0x48 CE_BYTES ro 64-bit, bytes copied in total (both engines)
 *   Descriptor queue:
 *   0x80 Q_BASE    rw  64-bit bus address of the ring (RAM, VRAM, a peer's BAR such as a CMB)
 *   0x88 Q_SIZE    rw  descriptors (1..4096); writing BASE or SIZE zeroes HEAD and TAIL
 *   0x8c Q_HEAD    ro  next descriptor the engine runs     0x90 Q_TAIL rw doorbell: the driver's producer index
 *   0x94 Q_STATUS      bit0 BUSY (ro), bit1 ERROR (sticky, write 1 to clear)
 *   0x98 Q_DONE    ro  descriptors completed (wraps)       0x9c Q_ERRORS ro descriptors that failed
 *   0xa0 KERNELS   ro  bit n set = compute kernel n (0..31) is registered
 * BAR2: VRAM, 64-bit prefetchable memory BAR (memfd-backed by default, so QEMU mmaps it).
 *
 * Descriptor (64 bytes, see GpuDesc): OP u32 @0 (GpuOp), FLAGS u32 @4 (bit0 IRQ), SRC u64 @8, DST
 * u64 @0x10, LENGTH u32 @0x18, KERNEL u32 @0x1c, ARG0/ARG1 u64 @0x20/0x28; the engine writes STATUS
 * u32 @0x30 (1 DONE, 2 ERROR | errno << 16) and RESULT u32 @0x34. COPY moves LENGTH bytes SRC → DST;
 * COMPUTE runs kernel KERNEL over VRAM offsets [SRC, +LENGTH). A failed descriptor does not stop the
 * queue. MSI-X vector 0 fires after an immediate copy and after each descriptor flagged IRQ.
 * A range entirely inside this GPU's own BAR2 is VRAM and accessed locally (it never leaves the
 * device); anything else goes through `dev.dma`, so on a fabric it is routed.
 */
import { isPowerOfTwo, mib } from '@p2pkit/base';
import {
  type DeviceInstance,
  defineEndpoint,
  type EndpointDefinition,
  type EndpointInstanceOptions,
  instanceState,
  memfdBarMemory,
  memory,
  mmio,
  msix,
  pciExpress,
} from '@p2pkit/pci';
import {
  CeStatus,
  GPU_VRAM_BAR,
  type GpuKernel,
  GpuReg,
  type GpuState,
  immediateCopy,
  MAX_QUEUE,
  QueueStatus,
  runQueue,
} from './gpu-engine.ts';

export const GPU_ID = 0x5047_3250;

/** Options of {@link createGpu}. */
export interface GpuOptions {
  /** VRAM (BAR2) bytes: a power of two ≥ 2 MiB. Default 64 MiB. */
  vramSize?: number;
  /** Instance name in logs and memfd names. Default `gpu`. */
  name?: string;
  /** PCI device ID under vendor 0x1b36. Default 0x00f2. */
  deviceId?: number;
  /** Compute hooks by kernel id (0..31), run by COMPUTE descriptors over a VRAM range. */
  kernels?: Readonly<Record<number, GpuKernel>>;
}

/** A GPU stub instance: serve `endpoint`; `vram` is BAR2's bytes. */
export interface GpuDevice extends DeviceInstance {
  /** The VRAM (BAR2) as the copy engine and peers in this process see it. */
  readonly vram: Uint8Array;
}

/**
 * Creates a GPU stub. Memory BARs are memfds unless `instance.memory` says otherwise (the VRAM is
 * then mappable by QEMU and reachable by peers on a fabric without messages).
 */
export async function createGpu(options: GpuOptions = {}, instance: EndpointInstanceOptions = {}): Promise<GpuDevice> {
  const endpoint = gpu(options).create({ memory: memfdBarMemory, ...instance });
  const close = async () => endpoint.close();
  return {
    endpoint,
    get vram() {
      return endpoint.handle.memory(GPU_VRAM_BAR);
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** The GPU stub's declaration (one per options; {@link createGpu} instantiates it). */
function gpu(options: GpuOptions): EndpointDefinition {
  const vramSize = options.vramSize ?? mib(64);
  if (!Number.isSafeInteger(vramSize) || vramSize < mib(2) || !isPowerOfTwo(vramSize)) {
    throw new RangeError(`gpu: vramSize must be a power of two ≥ 2 MiB, got ${vramSize}`);
  }
  const kernels = new Map(Object.entries(options.kernels ?? {}).map(([id, k]) => [Number(id), k] as const));
  for (const id of kernels.keys())
    if (!Number.isInteger(id) || id < 0 || id > 31) throw new RangeError(`gpu: kernel id ${id} is not 0..31`);
  const init = () => initialRegs(vramSize, kernels);
  const state = instanceState((): GpuState => ({ regs: init(), generation: 0, queueRunning: false, kernels }));
  return defineEndpoint({
    name: options.name ?? 'gpu',
    ids: { vendor: 0x1b36, device: options.deviceId ?? 0x00f2, class: 0x030200, revision: 1 },
    bars: {
      0: mmio({
        size: 0x4000,
        read: (off, size, dev) => readReg(state(dev).regs, off, size),
        write: (off, size, value, dev) => {
          const s = state(dev);
          if (off === GpuReg.CE_STATUS) {
            s.regs.setUint32(off, s.regs.getUint32(off, true) & ~(Number(value) & (CeStatus.DONE | CeStatus.ERROR)), true);
          } else if (off === GpuReg.CE_GO) {
            if (!(value & 1n)) return;
            if (s.regs.getUint32(GpuReg.CE_STATUS, true) & CeStatus.BUSY) return dev.guestError('gpu: CE_GO while the copy engine is busy');
            s.regs.setUint32(GpuReg.CE_STATUS, CeStatus.BUSY, true);
            void immediateCopy(dev, s); // runs after the MMIO reply is sent
          } else if (off === GpuReg.SCRATCH || (off >= GpuReg.CE_SRC && off < GpuReg.CE_GO)) {
            store(s.regs, off, size, value);
          } else if (off === GpuReg.Q_BASE || off === GpuReg.Q_BASE + 4 || off === GpuReg.Q_SIZE) {
            if (off === GpuReg.Q_SIZE && (value === 0n || value > BigInt(MAX_QUEUE)))
              return dev.guestError(`gpu: queue size ${value} not 1..${MAX_QUEUE}`);
            store(s.regs, off, size, value);
            s.regs.setUint32(GpuReg.Q_HEAD, 0, true);
            s.regs.setUint32(GpuReg.Q_TAIL, 0, true);
          } else if (off === GpuReg.Q_TAIL) {
            if (value >= BigInt(s.regs.getUint32(GpuReg.Q_SIZE, true))) return dev.guestError(`gpu: queue tail ${value} outside the queue`);
            store(s.regs, off, 4, value);
            void runQueue(dev, s);
          } else if (off === GpuReg.Q_STATUS) {
            s.regs.setUint32(off, s.regs.getUint32(off, true) & ~(Number(value) & QueueStatus.ERROR), true);
          }
        },
      }),
      [GPU_VRAM_BAR]: memory({ size: vramSize, prefetchable: true, bits: 64, name: 'vram' }),
    },
    capabilities: [pciExpress.endpoint(), msix({ vectors: 1, bar: 0, table: 0x2000, pba: 0x3000 })],
    reset: (dev) => {
      const s = state(dev);
      s.generation++;
      s.regs = init();
      s.queueRunning = false;
    },
  });
}

function initialRegs(vramSize: number, kernels: ReadonlyMap<number, GpuKernel>): DataView {
  const regs = new DataView(new ArrayBuffer(0x100));
  regs.setUint32(GpuReg.ID, GPU_ID, true);
  regs.setUint32(GpuReg.VERSION, 0x0002_0000, true);
  regs.setBigUint64(GpuReg.VRAM_SIZE, BigInt(vramSize), true);
  regs.setUint32(GpuReg.KERNELS, [...kernels.keys()].reduce((bits, id) => bits | (1 << id), 0) >>> 0, true);
  return regs;
}

function store(regs: DataView, off: number, size: number, value: bigint): void {
  if (size === 8) regs.setBigUint64(off, value, true);
  else regs.setUint32(off, Number(value & 0xffff_ffffn), true);
}

function readReg(regs: DataView, off: number, size: number): number | bigint {
  if (off + size > regs.byteLength) return 0;
  if (size === 8) return regs.getBigUint64(off, true);
  if (size === 4) return regs.getUint32(off, true);
  return size === 2 ? regs.getUint16(off, true) : regs.getUint8(off);
}
