/**
 * @p2pkit/fabric: a PCIe fabric model for p2pkit endpoints — the one topology description of a
 * system (`topology()`, also what the testbed boots), address routing with ACS, a routing DmaSpace
 * per endpoint, per-link TLP counters, live observables, traces, remote endpoints over a msgpackr
 * channel, and `serve()`, the one way to serve a device on a vfio-user socket.
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
export { ACS_OFF, type AcsSettings, acs, acsRedirect, describeAcs, redirectsCompletions, redirectsRequests } from './topology/acs.ts';
export {
  type EndpointLike,
  PortBuilder,
  type PortOptions,
  SwitchBuilder,
  type SwitchOptions,
  TopologyBuilder,
  type TopologyOptions,
  topology,
} from './topology/builder.ts';
export type {
  DownstreamPortDescription,
  EndpointDescription,
  EndpointDevice,
  PayloadSize,
  QemuNvmeDescription,
  RootPortDescription,
  SwitchDescription,
  TopologyDefaults,
  TopologyDescription,
  VfioUserDeviceDescription,
} from './topology/description.ts';
export { type EndpointInput, type QemuNvmeOptions, qemuNvme, type VfioUserOptions, vfioUser } from './topology/devices.ts';
export {
  DEFAULT_LINK,
  describeLink,
  type LinkParameters,
  type LinkSpec,
  linkBandwidth,
  PCIE_GENERATIONS,
  type PcieGen,
  trainLink,
} from './topology/link.ts';
export { type FabricLink, type FabricNode, type LinkRole, type NodeKind, Topology } from './topology/model.ts';
export { endpointsOf, mapEndpoints } from './topology/walk.ts';
export * from './trace/index.ts';
export * from './pci/join-fabric.ts';
export { type Servable, type ServedDevice, type ServeOptions, serve } from './serve.ts';
