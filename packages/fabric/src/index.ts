/**
 * @p2pkit/fabric: a PCIe fabric model for p2pkit endpoints — the one topology description of a
 * system (`topology()`, also what the testbed boots), address routing with ACS, a routing DmaSpace
 * per endpoint, per-link TLP counters, live observables, traces, remote endpoints over a msgpackr
 * channel, and `serve()`, the one way to serve a device on a vfio-user socket.
 */
export {
  type AccountedTransfer,
  type CounterSnapshot,
  type DirectionCounters,
  type EndpointTotals,
  FabricCounters,
  type LinkTotals,
  linkBytes,
  TLP_OVERHEAD_BYTES,
  type TlpBreakdown,
  tlpBreakdown,
  tlpCount,
} from './counters/index.ts';
export { type DmaRouting, type DmaSpaceOptions, FabricDmaSpace, MAX_TRANSFER_BYTES, sgTotal } from './dma/index.ts';
export { type EndpointRegistration, Fabric, type FabricOptions, type RegisteredEndpoint } from './fabric.ts';
export type { TransactionEvent } from './observe/events.ts';
export { type LinkRate, type StatsSample, sampledStats } from './observe/stats.ts';
export { FabricEndpoint } from './pci/join-fabric.ts';
export {
  type FrameChannel,
  type PortLike,
  portChannel,
  RemoteEndpointClient,
  type RemoteEndpointOptions,
  RemoteEndpointServer,
  serveRemoteEndpoint,
  streamChannel,
} from './remote/index.ts';
export {
  type ChartOptions,
  heatColour,
  renderEndpointTable,
  renderLinkChartHtml,
  renderLinkChartSvg,
  renderLinkTable,
  renderTopologySvg,
  type TopologySvgOptions,
} from './render/index.ts';
export type {
  BarBacking,
  BarRegistration,
  HostMemoryMode,
  LinkCrossing,
  LinkDirection,
  RouteDecision,
  TransferDirection,
} from './routing/index.ts';
export { type Servable, type ServedDevice, type ServeOptions, serve } from './serve.ts';
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
export {
  type LinkTimeline,
  type PerfettoEvent,
  type PerfettoTrace,
  readTrace,
  sliceTrace,
  type TimelineOptions,
  type TimelineSeries,
  type Trace,
  TraceFileError,
  type TraceHeader,
  type TraceRecord,
  type TraceWindow,
  TraceWriter,
  type TraceWriterOptions,
  traceTimeline,
  traceToPerfetto,
  traceTotals,
} from './trace/index.ts';
