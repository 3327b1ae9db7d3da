/**
 * PCIe link parameters: generation (transfer rate), width, and the bandwidth they give.
 *
 * Per-lane raw rates and line encodings follow PCIe Base 6.0 §4.2 (8b/10b up to 5 GT/s,
 * 128b/130b for 8–32 GT/s, 1b/1b PAM4 with 242/256 FLIT efficiency from 64 GT/s).
 */
import type { LinkWidth } from '@p2pkit/pci';

/** PCIe generations the model knows. */
export type PcieGen = 1 | 2 | 3 | 4 | 5 | 6 | 7;

/** Transfer rate per lane (GT/s) and the fraction of raw bits that carry data after line encoding. */
export const PCIE_GENERATIONS: Readonly<Record<PcieGen, { gts: number; encoding: string; efficiency: number }>> = {
  1: { gts: 2.5, encoding: '8b/10b', efficiency: 8 / 10 },
  2: { gts: 5, encoding: '8b/10b', efficiency: 8 / 10 },
  3: { gts: 8, encoding: '128b/130b', efficiency: 128 / 130 },
  4: { gts: 16, encoding: '128b/130b', efficiency: 128 / 130 },
  5: { gts: 32, encoding: '128b/130b', efficiency: 128 / 130 },
  6: { gts: 64, encoding: 'PAM4 FLIT', efficiency: 242 / 256 },
  7: { gts: 128, encoding: 'PAM4 FLIT', efficiency: 242 / 256 },
};

/** A link as described by the user: generation and width; both default to the fabric's defaults. */
export interface LinkSpec {
  gen?: PcieGen;
  width?: LinkWidth;
}

/** A link after defaults are applied. */
export interface LinkParameters {
  gen: PcieGen;
  width: LinkWidth;
  /** Per-lane transfer rate in GT/s. */
  gts: number;
  /** Usable bandwidth in bytes per second, per direction, after line encoding (not TLP overhead). */
  bytesPerSecond: number;
}

/** Default link when nothing is said: Gen 4 x4, a typical NVMe SSD link. */
export const DEFAULT_LINK: Required<LinkSpec> = { gen: 4, width: 4 };

/** Usable bytes per second per direction of a link (after line encoding). */
export function linkBandwidth(gen: PcieGen, width: LinkWidth): number {
  const g = PCIE_GENERATIONS[gen];
  return (g.gts * 1e9 * width * g.efficiency) / 8;
}

/** The link a port and the device below it train to: the lower generation and the narrower width. */
export function trainLink(
  port: LinkSpec | undefined,
  device: LinkSpec | undefined,
  fallback: Required<LinkSpec> = DEFAULT_LINK,
): LinkParameters {
  const gen = Math.min(port?.gen ?? fallback.gen, device?.gen ?? port?.gen ?? fallback.gen) as PcieGen;
  const width = Math.min(port?.width ?? fallback.width, device?.width ?? port?.width ?? fallback.width) as LinkWidth;
  if (!(gen in PCIE_GENERATIONS)) throw new RangeError(`unknown PCIe generation ${gen}`);
  return { gen, width, gts: PCIE_GENERATIONS[gen].gts, bytesPerSecond: linkBandwidth(gen, width) };
}

/** Human form, e.g. `Gen4 x16 (16 GT/s, 31.5 GB/s)`. */
export function describeLink(link: LinkParameters): string {
  return `Gen${link.gen} x${link.width} (${link.gts} GT/s, ${(link.bytesPerSecond / 1e9).toFixed(1)} GB/s)`;
}
