/**
 * A GPU stub (class 0x030200, 3D controller): VRAM peers can DMA into, and a copy engine that moves
 * bytes between any two bus addresses. It renders nothing; it exists to be a P2PDMA source/target.
 *
 * BAR0 (16 KiB, 32-bit MMIO, little-endian; MSI-X table @0x2000, PBA @0x3000, 1 vector):
 *   0x00 ID        ro  0x50473250 ("P2GP")          0x04 VERSION ro  0x00010000 (1.0)
 *   0x08 VRAM_SIZE ro  64-bit, bytes of BAR2        0x10 SCRATCH rw
 *   0x20 CE_SRC    rw  64-bit source bus address    0x28 CE_DST  rw  64-bit destination bus address
 *   0x30 CE_LEN    rw  bytes                        0x34 CE_GO   wo  write 1 = start (ignored while busy)
 *   0x38 CE_STATUS     bit0 BUSY (ro), bit1 DONE, bit2 ERROR (write 1s to clear DONE/ERROR)
 *   0x3c CE_ERROR  ro  errno of the last failure (EFAULT 14, EPERM 1, ...), 0 after a success
 *   0x40 CE_COPIES ro  finished copies              0x48 CE_BYTES ro 64-bit, bytes copied in total
 * BAR2: VRAM, 64-bit prefetchable memory BAR (memfd-backed by default, so QEMU mmaps it).
 *
 * A copy ends with DONE or ERROR in CE_STATUS, then MSI-X vector 0. A range entirely inside this
 * GPU's own BAR2 is VRAM and accessed locally (it never leaves the device); anything else goes
 * through `dev.dma`, so on a fabric it is routed: peer BARs directly below a switch, RAM via the host.
 */
import { DmaError, hex, isPowerOfTwo, mib } from '@p2pkit/base';
import {
  type DeviceInstance,
  DmaRefusedError,
  type EndpointDefinition,
  type EndpointHandle,
  type EndpointInstanceOptions,
  defineEndpoint,
  instanceState,
  memfdBarMemory,
  memory,
  mmio,
  msix,
  pciExpress,
} from '@p2pkit/pci';

// biome-ignore format: register map
export const GpuReg = {
  ID: 0x00, VERSION: 0x04, VRAM_SIZE: 0x08, SCRATCH: 0x10, CE_SRC: 0x20, CE_DST: 0x28, CE_LEN: 0x30,
  CE_GO: 0x34, CE_STATUS: 0x38, CE_ERROR: 0x3c, CE_COPIES: 0x40, CE_BYTES: 0x48,
} as const;
export const CeStatus = { BUSY: 1, DONE: 2, ERROR: 4 } as const;
export const GPU_ID = 0x5047_3250;
export const GPU_VRAM_BAR = 2;
const EPERM = 1;
const EFAULT = 14;
const EINVAL = 22;
/** Largest piece the engine moves at once (QEMU's max_data_xfer_size). */
const CHUNK = 1 << 20;

/** Options of {@link createGpu}. */
export interface GpuOptions {
  /** VRAM (BAR2) bytes: a power of two ≥ 2 MiB. Default 64 MiB. */
  vramSize?: number;
  /** Instance name in logs and memfd names. Default `gpu`. */
  name?: string;
  /** PCI device ID under vendor 0x1b36. Default 0x00f2. */
  deviceId?: number;
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

interface GpuState {
  regs: DataView;
  /** Bumped by reset: an in-flight copy of an older generation stops touching registers. */
  generation: number;
}

/** The GPU stub's declaration (one per options; {@link createGpu} instantiates it). */
function gpu(options: GpuOptions): EndpointDefinition {
  const vramSize = options.vramSize ?? mib(64);
  if (!Number.isSafeInteger(vramSize) || vramSize < mib(2) || !isPowerOfTwo(vramSize)) {
    throw new RangeError(`gpu: vramSize must be a power of two ≥ 2 MiB, got ${vramSize}`);
  }
  const state = instanceState((): GpuState => ({ regs: initialRegs(vramSize), generation: 0 }));
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
            void copy(dev, s); // runs after the MMIO reply is sent
          } else if (off === GpuReg.SCRATCH || (off >= GpuReg.CE_SRC && off < GpuReg.CE_GO)) {
            if (size === 8) s.regs.setBigUint64(off, value, true);
            else s.regs.setUint32(off, Number(value & 0xffff_ffffn), true);
          }
        },
      }),
      [GPU_VRAM_BAR]: memory({ size: vramSize, prefetchable: true, bits: 64, name: 'vram' }),
    },
    capabilities: [pciExpress.endpoint(), msix({ vectors: 1, bar: 0, table: 0x2000, pba: 0x3000 })],
    reset: (dev) => {
      const s = state(dev);
      s.generation++;
      s.regs = initialRegs(vramSize);
    },
  });
}

function initialRegs(vramSize: number): DataView {
  const regs = new DataView(new ArrayBuffer(0x100));
  regs.setUint32(GpuReg.ID, GPU_ID, true);
  regs.setUint32(GpuReg.VERSION, 0x0001_0000, true);
  regs.setBigUint64(GpuReg.VRAM_SIZE, BigInt(vramSize), true);
  return regs;
}

function readReg(regs: DataView, off: number, size: number): number | bigint {
  if (off + size > regs.byteLength) return 0;
  if (size === 8) return regs.getBigUint64(off, true);
  if (size === 4) return regs.getUint32(off, true);
  return size === 2 ? regs.getUint16(off, true) : regs.getUint8(off);
}

/** VRAM offset of [address, +length) when it lies entirely in this GPU's BAR2; throws EINVAL when it straddles the edge. */
function vramOffset(dev: EndpointHandle, address: bigint, length: number): number | undefined {
  const base = dev.bar(GPU_VRAM_BAR).address;
  if (base === undefined) return undefined;
  const end = base + BigInt(dev.bar(GPU_VRAM_BAR).size);
  if (address >= base && address + BigInt(length) <= end) return Number(address - base);
  if (address < end && address + BigInt(length) > base) throw new DmaError('range straddles the VRAM boundary', address, length, EINVAL);
  return undefined;
}

async function copy(dev: EndpointHandle, s: GpuState): Promise<void> {
  const { regs, generation } = s;
  const src = regs.getBigUint64(GpuReg.CE_SRC, true);
  const dst = regs.getBigUint64(GpuReg.CE_DST, true);
  const length = regs.getUint32(GpuReg.CE_LEN, true);
  let errno = 0;
  try {
    for (let done = 0; done < length; ) {
      const n = Math.min(CHUNK, length - done);
      const [from, to] = [src + BigInt(done), dst + BigInt(done)];
      const inVram = vramOffset(dev, from, n);
      const data = inVram === undefined ? await dev.dma.read(from, n) : dev.memory(GPU_VRAM_BAR).slice(inVram, inVram + n);
      if (s.generation !== generation) return;
      const outVram = vramOffset(dev, to, n);
      if (outVram === undefined) await dev.dma.write(to, data);
      else dev.memory(GPU_VRAM_BAR).set(data, outVram);
      if (s.generation !== generation) return;
      done += n;
    }
  } catch (e) {
    if (s.generation !== generation) return;
    errno = e instanceof DmaError ? e.errno : e instanceof DmaRefusedError ? EPERM : EFAULT;
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
