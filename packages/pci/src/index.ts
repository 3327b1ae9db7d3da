/**
 * @p2pkit/pci: PCIe endpoints in TypeScript. Declare an endpoint with {@link defineEndpoint};
 * its instances implement the vfio-user `VfioUserDevice` contract.
 */
export { type AccessSize, type BarDeclaration, type BarReadHandler, type BarWriteHandler, type IoBar, io, type MemoryBar, memory, type MmioBar, mmio } from './bar.ts';
export { BarRegion, mmappableAreas, PAGE_SIZE } from './bar-region.ts';
export * from './capabilities/aer.ts';
export type { Capability, ExtendedCapability } from './capabilities/capability.ts';
export * from './capabilities/msi.ts';
export * from './capabilities/msix.ts';
export * from './capabilities/pci-express.ts';
export * from './capabilities/power-management.ts';
export * from './capabilities/serial-number.ts';
export * from './capabilities/vendor-specific.ts';
export { BAR_COUNT, type BarAddressListener, type BarIndex, type BarLayout, BarRegisters, barTypeBits, validateBarLayouts } from './config/bars.ts';
export {
  type CapabilityListEntry,
  extendedHeader,
  installCapabilities,
  installExtendedCapabilities,
  type PlacedCapability,
  walkCapabilities,
  walkExtendedCapabilities,
} from './config/capability-list.ts';
export { CommandStatus, type HeaderOptions, headerRegisters, type PciIds } from './config/header.ts';
export * from './config/registers.ts';
export * from './config/space.ts';
export type { EndpointSpec } from './definition.ts';
export { DmaRefusedError, type DmaRefusal, GatedDmaSpace } from './dma.ts';
export { defineEndpoint, Endpoint, type EndpointDefinition, type EndpointInstanceOptions, type EndpointLogger } from './endpoint.ts';
export type { BarHandle, EndpointHandle } from './handle.ts';
export { InterruptController, type InterruptMode, type InterruptSources } from './interrupts.ts';
export { heapBarMemory, type BarMemory, type BarMemoryProvider } from './bar-memory.ts';
export { memfdBarMemory } from './memfd-bar-memory.ts';
export { serveEndpoint, type ServedEndpoint } from './serve.ts';
export { instanceState } from './instance-state.ts';
