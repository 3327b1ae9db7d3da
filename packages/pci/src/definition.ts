/** The declaration a device author writes, and its up-front validation. */

import { hex } from '@p2pkit/base';
import type { BarDeclaration } from './bar.ts';
import { barLayoutOf } from './bar-region.ts';
import type { Capability, ExtendedCapability } from './capabilities/capability.ts';
import type { MsiCapability } from './capabilities/msi.ts';
import type { MsixCapability } from './capabilities/msix.ts';
import type { PciExpressCapability } from './capabilities/pci-express.ts';
import { BAR_COUNT, type BarIndex, type BarLayout, validateBarLayouts } from './config/bars.ts';
import { installCapabilities, installExtendedCapabilities } from './config/capability-list.ts';
import { headerRegisters, type PciIds } from './config/header.ts';
import { CONVENTIONAL_CONFIG_SIZE, EXTENDED_CONFIG_SIZE, type InterruptPin } from './config/registers.ts';
import { ConfigSpace, type ConfigSpaceSize } from './config/space.ts';
import type { EndpointHandle } from './handle.ts';

/** Everything that describes an endpoint. Hooks receive the instance's {@link EndpointHandle}. */
export interface EndpointSpec {
  /** Used for shared-memory names and log messages. Default 'endpoint'. */
  name?: string;
  ids: PciIds;
  bars?: Partial<Record<BarIndex, BarDeclaration>>;
  /** Standard capabilities, linked in this order from 0x40. */
  capabilities?: readonly Capability[];
  /** Extended capabilities, linked in this order from 0x100 (forces a 4096-byte config space). */
  extendedCapabilities?: readonly ExtendedCapability[];
  /** INTx pin: 1 = INTA# ... 4 = INTD#; absent or 0 = no INTx. */
  interruptPin?: InterruptPin;
  /** Default: 4096 with a PCI Express capability or extended capabilities, else 256. */
  configSpaceSize?: ConfigSpaceSize;
  /** Runs once per instance, after the config space and BARs exist. */
  setup?(dev: EndpointHandle): void;
  /** Runs after every reset (DEVICE_RESET, FLR), once config space defaults are restored. */
  reset?(dev: EndpointHandle): void;
  /** A client connected; DMA and interrupts now reach it. */
  attach?(dev: EndpointHandle): void;
  /** The client went away. */
  detach?(dev: EndpointHandle): void;
  /** The guest programmed (or unprogrammed) a BAR address. */
  onBarAddress?(dev: EndpointHandle, bar: BarIndex, address: bigint | undefined): void;
}

export const isMsix = (c: Capability): c is MsixCapability => c.kind === 'msix';
export const isMsi = (c: Capability): c is MsiCapability => c.kind === 'msi';
export const isPciExpress = (c: Capability): c is PciExpressCapability => c.kind === 'pci-express';

/** Declared BARs with their layouts, in index order. */
export function declaredBars(spec: EndpointSpec): Array<{ index: BarIndex; declaration: BarDeclaration; layout: BarLayout }> {
  const out: Array<{ index: BarIndex; declaration: BarDeclaration; layout: BarLayout }> = [];
  for (let i = 0; i < BAR_COUNT; i++) {
    const index = i as BarIndex;
    const declaration = spec.bars?.[index];
    if (declaration) out.push({ index, declaration, layout: barLayoutOf(index, declaration) });
  }
  for (const key of Object.keys(spec.bars ?? {})) {
    if (!/^[0-5]$/.test(key)) throw new RangeError(`bars: ${key} is not a BAR index 0..5`);
  }
  return out;
}

/** The config space size an endpoint gets. */
export function configSpaceSizeOf(spec: EndpointSpec): ConfigSpaceSize {
  const needsExtended = (spec.extendedCapabilities?.length ?? 0) > 0;
  if (spec.configSpaceSize !== undefined) {
    if (needsExtended && spec.configSpaceSize !== EXTENDED_CONFIG_SIZE)
      throw new RangeError('extended capabilities need configSpaceSize 4096');
    return spec.configSpaceSize;
  }
  return needsExtended || (spec.capabilities ?? []).some(isPciExpress) ? EXTENDED_CONFIG_SIZE : CONVENTIONAL_CONFIG_SIZE;
}

/** Checks what can be checked without building an instance; throws a descriptive error. */
export function validateSpec(spec: EndpointSpec): void {
  const bars = declaredBars(spec);
  validateBarLayouts(bars.map((b) => b.layout));
  headerRegisters({ ids: spec.ids, interruptPin: spec.interruptPin ?? 0 });
  // Dry run of the capability layout on a scratch space: catches lists that do not fit.
  const scratch = new ConfigSpace(configSpaceSizeOf(spec));
  installCapabilities(scratch, spec.capabilities ?? []);
  installExtendedCapabilities(scratch, spec.extendedCapabilities ?? []);
  const caps = spec.capabilities ?? [];
  for (const kind of ['msi', 'msix', 'pci-express', 'power-management']) {
    if (caps.filter((c) => c.kind === kind).length > 1) throw new RangeError(`capabilities: more than one ${kind} capability`);
  }
  const extKinds = (spec.extendedCapabilities ?? []).map((c) => c.kind);
  for (const kind of ['aer', 'serial-number']) {
    if (extKinds.filter((k) => k === kind).length > 1) throw new RangeError(`extendedCapabilities: more than one ${kind} capability`);
  }
  for (const cap of caps.filter(isMsix)) {
    for (const range of [cap.tableRange, cap.pbaRange]) {
      const bar = bars.find((b) => b.index === range.bar);
      if (!bar) throw new RangeError(`msix: BAR${range.bar} is not declared (use the lower index of a 64-bit BAR)`);
      if (bar.declaration.kind === 'io') throw new RangeError(`msix: BAR${range.bar} is an I/O BAR; MSI-X needs a memory BAR`);
      if (range.offset + range.size > bar.layout.size) {
        throw new RangeError(
          `msix: [${hex(range.offset)}, +${hex(range.size)}) does not fit BAR${range.bar} (${hex(bar.layout.size)} bytes)`,
        );
      }
    }
  }
}
