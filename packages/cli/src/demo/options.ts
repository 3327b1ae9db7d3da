/** Options of the demo and the sizes they take (`64MiB`, `4M`, `1048576`). */

const MiB = 1 << 20;

/** What `p2pkit demo` (and `npm run demo`) can change. */
export interface DemoOptions {
  /** Bytes copied each way (default 64 MiB; a multiple of 1 MiB and of the chunk). */
  sizeBytes?: number;
  /** Bytes per read/write of the copy loop, i.e. the p2pmem buffer (default 4 MiB). */
  chunkBytes?: number;
  /** CMB of the p2pmem provider (default 64 MiB). */
  cmbBytes?: number;
  /** Who provides the p2pmem: a p2pkit NVMe controller (default) or QEMU's own nvme. */
  provider?: 'p2pkit' | 'qemu';
  /** Folder for the report, traces and images (default `./demo-output`). */
  outDir?: string;
  /** Print only the figures as one JSON object on stdout (people's output goes to stderr). */
  json?: boolean;
  /** Keep the namespace images (hundreds of MiB, sparse) instead of deleting them at the end. */
  keep?: boolean;
  /** Open a shell in the guest after the copies; the guest powers off when it exits. */
  interactive?: boolean;
}

/** Options with defaults applied and checked. */
export type ResolvedDemoOptions = Required<DemoOptions>;

const UNITS: Record<string, number> = { '': 1, k: 1024, kib: 1024, m: MiB, mib: MiB, g: 1 << 30, gib: 1 << 30 };

/** `64MiB`, `64M`, `4k`, `1048576` → bytes; throws a one-line error naming `what`. */
export function parseSize(text: string, what: string): number {
  const m = /^\s*(\d+)\s*([a-z]*)\s*$/i.exec(text);
  const unit = UNITS[(m?.[2] ?? 'x').toLowerCase()];
  if (!m?.[1] || unit === undefined) throw new Error(`${what}: cannot read '${text}' as a size (bytes, or with a unit: 4KiB, 64MiB, 1GiB)`);
  return Number(m[1]) * unit;
}

/** Applies defaults and checks the sizes fit together (the guest tool copies whole chunks, seeds and verifies 1 MiB at a time). */
export function resolveDemoOptions(o: DemoOptions): ResolvedDemoOptions {
  const r: ResolvedDemoOptions = {
    sizeBytes: o.sizeBytes ?? 64 * MiB,
    chunkBytes: o.chunkBytes ?? 4 * MiB,
    cmbBytes: o.cmbBytes ?? 64 * MiB,
    provider: o.provider ?? 'p2pkit',
    outDir: o.outDir ?? 'demo-output',
    json: o.json ?? false,
    keep: o.keep ?? false,
    interactive: o.interactive ?? false,
  };
  const mib = (n: number) => `${n / MiB} MiB`;
  if (r.provider !== 'p2pkit' && r.provider !== 'qemu') throw new Error(`--provider: '${r.provider}' is neither p2pkit nor qemu`);
  if (r.chunkBytes < 4096 || r.chunkBytes % 4096) throw new Error(`--chunk: ${r.chunkBytes} bytes is not a positive multiple of 4 KiB`);
  if (r.sizeBytes < MiB || r.sizeBytes % MiB || r.sizeBytes % r.chunkBytes) {
    throw new Error(`--size: ${r.sizeBytes} bytes is not a multiple of 1 MiB and of the chunk (${r.chunkBytes} bytes)`);
  }
  if (r.cmbBytes < 2 * MiB || r.cmbBytes % MiB || (r.cmbBytes & (r.cmbBytes - 1)) !== 0) {
    throw new Error(`--cmb: ${r.cmbBytes} bytes is not a power of two of at least 2 MiB (the driver publishes CMBs ≥ 2 MiB)`);
  }
  // The driver takes some of the CMB for submission queues; the rest is the p2pmem pool.
  if (r.chunkBytes > r.cmbBytes / 2)
    throw new Error(
      `--chunk: ${mib(r.chunkBytes)} does not fit in half the CMB (${mib(r.cmbBytes)}); use a larger --cmb or a smaller --chunk`,
    );
  return r;
}
