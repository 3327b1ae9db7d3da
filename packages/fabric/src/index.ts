/**
 * @p2pkit/fabric: a PCIe fabric model for p2pkit endpoints — topology, address routing with ACS,
 * a routing DmaSpace per endpoint, per-link TLP counters, live observables, traces, and remote
 * endpoints over a msgpackr channel.
 */
export * from './codec/frames.ts';
export * from './counters/index.ts';
export * from './dma/index.ts';
export * from './fabric.ts';
export * from './observe/events.ts';
export * from './observe/stats.ts';
export * from './remote/index.ts';
export * from './render/index.ts';
export * from './routing/index.ts';
export * from './topology/index.ts';
export * from './trace/index.ts';
export * from './pci/join-fabric.ts';
export { type Servable, type ServedDevice, type ServeOptions, serve } from './serve.ts';
