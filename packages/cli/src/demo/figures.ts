/** Every figure of one demo run as plain data: what `p2pkit demo --json` prints and the report shows. */
import { type LinkTotals, linkBytes, type Topology } from '@p2pkit/fabric';

/** Traffic of one link during one copy. */
export interface LinkFigures {
  link: string;
  /** `rp0 → sw0` */
  name: string;
  role: 'switch-upstream' | 'endpoint';
  upstreamBytes: number;
  downstreamBytes: number;
  upstreamTlps: number;
  downstreamTlps: number;
}

/** One of the two copies. */
export interface CopyFigures {
  /** `p2p`: through the provider's CMB (p2pmem); `host`: through a host-memory buffer. */
  buffer: 'p2p' | 'host';
  description: string;
  /** Bytes the guest copied. */
  bytes: number;
  /** Guest-measured copy time and throughput (MB/s = 10⁶ bytes per second). */
  seconds: number;
  throughputMBps: number;
  /** Source and destination compared equal in the guest after the copy. */
  verified: boolean;
  /** Payload bytes over the switch upstream link(s), both directions. */
  upstreamBytes: number;
  /** `upstreamBytes / bytes`. */
  upstreamShare: number;
  links: LinkFigures[];
  /** Fabric trace (msgpackr) and its Perfetto export. */
  trace: string;
  perfetto: string;
}

/** The whole run. */
export interface DemoFigures {
  payloadBytes: number;
  chunkBytes: number;
  cmbBytes: number;
  /** Who provides the p2pmem: a p2pkit NVMe controller or QEMU's own nvme. */
  provider: 'p2pkit' | 'qemu';
  /** Switch upstream link(s) the share is measured on. */
  upstreamLinks: string[];
  p2p: CopyFigures;
  host: CopyFigures;
  versions: { qemu: string; qemuPackage: string; kernel: string; kernelPackage: string; node: string };
  guest: { bootSeconds: number; p2pmemBytes: number };
  startedAt: string;
  durationSeconds: number;
  files: { outputDir: string; report: string; figures: string; images: string[]; imagesKept: boolean };
}

/** Per-link figures with names and roles from the topology. */
export function linkFigures(links: readonly LinkTotals[], topology: Topology): LinkFigures[] {
  return links.map((l) => {
    const info = topology.has(l.link) ? topology.link(l.link) : undefined;
    return {
      link: l.link,
      name: info?.name ?? l.link,
      role: info?.role ?? 'endpoint',
      upstreamBytes: l.upstream.bytes,
      downstreamBytes: l.downstream.bytes,
      upstreamTlps: l.upstream.tlps,
      downstreamTlps: l.downstream.tlps,
    };
  });
}

/** Payload bytes over the topology's switch upstream links. */
export function upstreamBytes(links: readonly LinkTotals[], topology: Topology): number {
  const up = new Set(topology.switchUpstreamLinks().map((l) => l.id));
  return links.filter((l) => up.has(l.link)).reduce((sum, l) => sum + linkBytes(l), 0);
}

/** A share as a percentage with enough digits to be non-zero when it is (0.0134 %, 200 %). */
export function percent(share: number): string {
  const p = share * 100;
  if (p === 0) return '0 %';
  if (p >= 10) return `${p.toFixed(0)} %`;
  return `${p.toPrecision(2)} %`;
}
