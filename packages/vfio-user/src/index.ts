/**
 * @p2pkit/vfio-user — the vfio-user protocol: a server (one device per socket), a TypeScript
 * client, and the transports they share. A device implements {@link VfioUserDevice}; most
 * devices get it from `@p2pkit/pci`'s `defineEndpoint`.
 *
 * The wire codec, message constants and server internals are in `@p2pkit/vfio-user/internal`.
 */
export { type ClientMemoryRange, type ClientOptions, type RegionInfoReply, VfioUserClient } from './client.ts';
export { type IrqInfo, IrqInfoFlags, type MmapArea, RegionFlags, RegionIndex, type RegionInfo, type VfioUserDevice } from './device.ts';
export { MalformedMessageError, VfioUserError } from './errors.ts';
export { MemoryTransport } from './memory-transport.ts';
export { DmaMapFlags, IrqSetFlags } from './protocol.ts';
export { type ServerOptions, VfioUserServer } from './server.ts';
export { ClientSession, type SessionOptions } from './session.ts';
export { SocketTransport } from './socket-transport.ts';
export type { MessageRefusal, Transport } from './transport.ts';
