/**
 * Every vfio-user struct p2pkit handles, declared once, in wire order (QEMU docs/interop/vfio-user.rst;
 * section names below are the spec's). Payload offsets start after the 16-byte header. Encoders and
 * decoders in ../codec.ts derive both directions from these tables.
 */
import { WRITE_MULTI_DATA } from '../protocol.ts';
import { bytes, layout, pad, u16, u32, u64 } from './layout.ts';

/** The header size and argsz fields that always equal the encoded length. */
const LENGTH = { length: true } as const;
/** Header id, flags and errno are written modulo their width (ids wrap at 0xffff). */
const WRAP = { wrap: true } as const;

/** "Header": `size` counts the header itself. */
export const HEADER = layout('header', [u16('id', WRAP), u16('command'), u32('size', LENGTH), u32('flags', WRAP), u32('error', WRAP)]);

/** "VFIO_USER_VERSION": version, then NUL-terminated JSON `{ "capabilities": … }`. */
export const VERSION = layout('VERSION', [u16('major'), u16('minor')], 'json');

/** "VFIO_USER_DMA_MAP": `offset` is the offset inside the passed fd. */
export const DMA_MAP = layout('DMA_MAP', [
  u32('argsz', { length: true, min: 32 }),
  u32('flags'),
  u64('offset'),
  u64('address'),
  u64('size'),
]);

/** "VFIO_USER_DMA_UNMAP" (no dirty bitmap: p2pkit refuses GET_DIRTY_BITMAP). */
export const DMA_UNMAP = layout('DMA_UNMAP', [u32('argsz', { length: true, min: 24 }), u32('flags'), u64('address'), u64('size')]);

/** A request in which only argsz matters (DEVICE_GET_INFO). */
export const ARGSZ = layout('argsz', [u32('argsz')]);

/** "VFIO_USER_DEVICE_GET_INFO" (struct vfio_device_info). */
export const DEVICE_INFO = layout('DEVICE_GET_INFO', [u32('argsz'), u32('flags'), u32('numRegions'), u32('numIrqs')]);

/**
 * "VFIO_USER_DEVICE_GET_REGION_INFO" (struct vfio_region_info). In a request argsz is the room the
 * client has for the reply, so it is not the encoded length; a capability chain may follow.
 */
export const REGION_INFO = layout('DEVICE_GET_REGION_INFO', [
  u32('argsz'),
  u32('flags'),
  u32('index'),
  u32('capOffset'),
  u64('size'),
  u64('offset'),
]);

/** Sparse-mmap capability header (struct vfio_region_info_cap_sparse_mmap), then `count` areas. */
export const SPARSE_MMAP_CAP = layout('sparse mmap capability', [u16('id'), u16('version'), u32('next'), u32('count'), pad(4)]);
export const SPARSE_MMAP_AREA = layout('sparse mmap area', [u64('offset'), u64('size')]);

/** "VFIO_USER_DEVICE_GET_IRQ_INFO" (struct vfio_irq_info). */
export const IRQ_INFO = layout('DEVICE_GET_IRQ_INFO', [u32('argsz'), u32('flags'), u32('index'), u32('count')]);

/** "VFIO_USER_DEVICE_SET_IRQS" (struct vfio_irq_set); data is one byte per vector with DATA_BOOL. */
export const SET_IRQS = layout('DEVICE_SET_IRQS', [u32('argsz', LENGTH), u32('flags'), u32('index'), u32('start'), u32('count')], 'data');

/** "VFIO_USER_REGION_READ" / "VFIO_USER_REGION_WRITE": data in writes and read replies. */
export const REGION_ACCESS = layout('REGION_READ/WRITE', [u64('offset'), u32('region'), u32('count')], 'data');

/** "VFIO_USER_REGION_WRITE_MULTI": a u64 count, then that many fixed-size entries. */
export const WRITE_MULTI = layout('REGION_WRITE_MULTI', [u64('count')]);
export const WRITE_MULTI_ENTRY = layout('REGION_WRITE_MULTI', [
  u64('offset'),
  u32('region'),
  u32('count'),
  bytes('data', WRITE_MULTI_DATA),
]);

/** "VFIO_USER_DMA_READ" / "VFIO_USER_DMA_WRITE" (server → client): data in writes and read replies. */
export const DMA_ACCESS = layout('DMA_READ/WRITE', [u64('address'), u64('count')], 'data');
