/**
 * @p2pkit/pci: PCIe endpoints in TypeScript. Declare an endpoint with {@link defineEndpoint}
 * (IDs, BARs with access callbacks, capabilities); its instances implement the vfio-user
 * `VfioUserDevice` contract, so the library owns config space, BAR sizing and the standard
 * capabilities while device code handles only its own registers.
 *
 * Config-space machinery that tests and tools need (ConfigSpace, capability walking, BAR regions)
 * is in `@p2pkit/pci/internal`.
 */
export {
  type AccessSize,
  type BarDeclaration,
  type BarReadHandler,
  type BarWriteHandler,
  type IoBar,
  io,
  type MemoryBar,
  type MmioBar,
  memory,
  mmio,
} from './bar.ts';
export { type BarMemory, type BarMemoryProvider, heapBarMemory } from './bar-memory.ts';
export { type AerCapability, type AerOutcome, type AerState, aer, CorrectableError, UncorrectableError } from './capabilities/aer.ts';
export type { Capability, ExtendedCapability } from './capabilities/capability.ts';
export { type MsiCapability, type MsiOptions, type MsiState, msi } from './capabilities/msi.ts';
export { type MsixCapability, type MsixOptions, type MsixState, msix } from './capabilities/msix.ts';
export {
  type LinkSpeed,
  type LinkWidth,
  type PciExpressCapability,
  type PciExpressEndpointOptions,
  type PciExpressState,
  PortType,
  pciExpress,
  type TransferSize,
} from './capabilities/pci-express.ts';
export {
  type PowerManagementCapability,
  type PowerManagementOptions,
  type PowerManagementState,
  type PowerState,
  powerManagement,
} from './capabilities/power-management.ts';
export { type SerialNumberCapability, type SerialNumberState, serialNumber } from './capabilities/serial-number.ts';
export {
  type VendorSpecificCapability,
  type VendorSpecificOptions,
  type VendorSpecificState,
  vendorSpecific,
} from './capabilities/vendor-specific.ts';
export type { BarIndex, BarLayout } from './config/bars.ts';
export type { PciIds } from './config/header.ts';
export { CapabilityId, ExtendedCapabilityId, type InterruptPin, PciCommand, PciHeader, PciStatus } from './config/registers.ts';
export type { EndpointSpec } from './definition.ts';
export type { DeviceInstance } from './device-instance.ts';
export { type DmaRefusal, DmaRefusedError } from './dma.ts';
export { defineEndpoint, Endpoint, type EndpointDefinition, type EndpointInstanceOptions, type EndpointLogger } from './endpoint.ts';
export type { BarHandle, EndpointHandle } from './handle.ts';
export { instanceState } from './instance-state.ts';
export type { InterruptMode } from './interrupts.ts';
export { memfdBarMemory } from './memfd-bar-memory.ts';
