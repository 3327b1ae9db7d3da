/**
 * @p2pkit/vfio-user/internal: the wire codec, message constants and server-side tables, for
 * p2pkit's conformance tests, fuzzers and benchmarks. Not a stable API.
 */

export type { Header, Message } from './codec.ts';
export * as codec from './codec.ts';
export { type DmaWindow, DmaWindowTable } from './dma-windows.ts';
export { IrqTable } from './irq-table.ts';
export {
  Command,
  type CommandValue,
  commandName,
  DeviceFlags,
  DmaUnmapFlags,
  HEADER_SIZE,
  HeaderFlags,
  IRQ_ACTION_MASK,
  IRQ_DATA_MASK,
  REGION_INFO_CAP_SPARSE_MMAP,
  WRITE_MULTI_DATA,
  WRITE_MULTI_MAX,
} from './protocol.ts';
export { ServerDmaSpace } from './server-dma.ts';
