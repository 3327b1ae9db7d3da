/**
 * @p2pkit/pci/internal: the config-space machinery behind `defineEndpoint`, for p2pkit's own
 * tests and tools. Not a stable API: device code uses `@p2pkit/pci`.
 */
export { BarRegion, mmappableAreas, PAGE_SIZE } from './bar-region.ts';
export { AerReg } from './capabilities/aer.ts';
export { type BarRange, pbaSize } from './capabilities/msix.ts';
export { DevCtl, DevSta, PcieReg } from './capabilities/pci-express.ts';
export { BAR_COUNT, type BarAddressListener, BarRegisters, barTypeBits, validateBarLayouts } from './config/bars.ts';
export {
  type CapabilityListEntry,
  extendedHeader,
  installCapabilities,
  installExtendedCapabilities,
  type PlacedCapability,
  walkCapabilities,
  walkExtendedCapabilities,
} from './config/capability-list.ts';
export { CommandStatus, type HeaderOptions, headerRegisters } from './config/header.ts';
export {
  BarBits,
  CONVENTIONAL_CONFIG_SIZE,
  EXTENDED_CONFIG_SIZE,
  EXTENDED_CONFIG_START,
  PCI_HEADER_SIZE,
  STATUS_RW1C,
} from './config/registers.ts';
export {
  ConfigSpace,
  type ConfigSpaceSize,
  type ConfigWrite,
  type RegisterSpec,
  type RegisterWidth,
  writeTouches,
  writtenValue,
} from './config/space.ts';
export { GatedDmaSpace } from './dma.ts';
export { InterruptController, type InterruptSources } from './interrupts.ts';
