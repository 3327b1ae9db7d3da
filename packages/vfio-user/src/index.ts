/**
 * @p2pkit/vfio-user — the vfio-user protocol: codec, server (one device per socket), a TypeScript
 * client and an in-memory transport.
 */
export * from './device.ts';
export * from './protocol.ts';
export * as codec from './codec.ts';
export type { Header, Message } from './codec.ts';
export { VfioUserError, MalformedMessageError } from './errors.ts';
export type { Transport } from './transport.ts';
export { SocketTransport } from './socket-transport.ts';
export { MemoryTransport } from './memory-transport.ts';
export { DmaWindowTable, type DmaWindow } from './dma-windows.ts';
export { IrqTable } from './irq-table.ts';
export { ServerDmaSpace } from './server-dma.ts';
export { ClientSession, type SessionOptions } from './session.ts';
export { VfioUserServer, type ServerOptions } from './server.ts';
export { VfioUserClient, type ClientOptions, type RegionInfoReply } from './client.ts';
