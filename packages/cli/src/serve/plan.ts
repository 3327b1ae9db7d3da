/**
 * What `p2pkit serve` serves and how QEMU gets it: the topology (a layout of the device specs, or
 * `--topology file.json|file.ts`) and the QEMU arguments for it — from the testbed's planTopology,
 * so `serve`, `run` and the library name and place devices by one rule.
 */
import { existsSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { endpointsOf, type Servable, TopologyBuilder, type TopologyDescription, topology } from '@p2pkit/fabric';
import { planTopology } from '@p2pkit/testbed';
import { UsageError } from '../exit.ts';

/** Where the endpoints go when no topology file is given. */
export type Layout = 'switch' | 'root-ports' | 'root-bus';

/** Endpoints attached by plain id under one switch (p2p capable), one root port each, or on the root bus. */
export function layoutTopology(ids: readonly string[], layout: Layout): TopologyDescription {
  if (layout === 'root-bus')
    return topology()
      .attach(...ids)
      .build();
  if (layout === 'root-ports') {
    const t = topology();
    for (const [i, id] of ids.entries()) t.rootPort(`rp${i}`, (rp) => rp.attach(id));
    return t.build();
  }
  if (layout !== 'switch') throw new UsageError(`--layout: '${layout}' is not switch, root-ports or root-bus`);
  return topology()
    .rootPort('rp0', (rp) =>
      rp.switch('sw0', (sw) => {
        for (const [i, id] of ids.entries()) sw.downstream(`dn${i}`).attach(id);
      }),
    )
    .build();
}

/** A topology file: the description, and devices when the file brings its own. */
export interface TopologyFile {
  topology: TopologyDescription;
  /** Devices by endpoint id, or a factory (a scenario's `devices`). */
  devices?:
    | Record<string, Servable>
    | ((setup: { dir: string; generation: number }) => Record<string, Servable> | Promise<Record<string, Servable>>);
}

/**
 * Read `--topology`: a `.json` description (what `topology().build()` returns), or a `.ts` module
 * whose default export is a topology (builder or description), `{ topology, devices? }`, or a scenario.
 */
export async function loadTopologyFile(path: string): Promise<TopologyFile> {
  const file = resolve(path);
  if (!existsSync(file)) throw new UsageError(`--topology: ${path} not found`);
  if (extname(file) === '.json') return { topology: JSON.parse(readFileSync(file, 'utf8')) as TopologyDescription };
  const value = ((await import(pathToFileURL(file).href)) as { default?: unknown }).default;
  const asDescription = (v: unknown): TopologyDescription | undefined =>
    v instanceof TopologyBuilder
      ? v.build()
      : typeof v === 'object' && v !== null && 'rootPorts' in v && 'endpoints' in v
        ? (v as TopologyDescription)
        : undefined;
  const direct = asDescription(value);
  if (direct) return { topology: direct };
  const withDevices = value as { topology?: unknown; devices?: TopologyFile['devices'] } | undefined;
  const t = asDescription(withDevices?.topology);
  if (!t)
    throw new UsageError(
      `--topology: the default export of ${path} is neither a topology, { topology, devices }, nor a scenario with a topology`,
    );
  return { topology: t, ...(withDevices?.devices ? { devices: withDevices.devices } : {}) };
}

/** Endpoint ids the rig must serve: attached by plain id, no socket. */
export function servedIds(t: TopologyDescription): string[] {
  return endpointsOf(t)
    .filter((ep) => ep.device.kind === 'vfio-user' && ep.device.socket === undefined)
    .map((ep) => ep.id);
}

/**
 * The QEMU arguments for a served description: shared memfd guest RAM (vfio-user servers map it
 * with DMA_MAP), q35, then the topology's -device/-drive lines. QEMU NVMe images the description
 * leaves to the testbed are created (sparse) in `diskDir`.
 */
export function qemuArguments(served: TopologyDescription, memory: string, diskDir: string): string[] {
  const plan = planTopology(served, diskDir);
  for (const d of plan.devices) {
    const device = d.endpoint.device;
    if (d.ownsImage && d.image && device.kind === 'qemu-nvme' && !existsSync(d.image)) {
      writeFileSync(d.image, '');
      truncateSync(d.image, device.sizeMiB * 2 ** 20); // sparse
    }
  }
  return [
    '-machine',
    'q35,memory-backend=mem',
    '-object',
    `memory-backend-memfd,id=mem,size=${memory},share=on`,
    '-m',
    memory,
    ...plan.args,
  ];
}

/** Arguments as shell words, one option per line (JSON -device values single-quoted). */
export function formatArguments(args: readonly string[]): string {
  const quote = (a: string) => (/^[\w,./=:@+-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`);
  const lines: string[] = [];
  for (let i = 0; i < args.length; i += 2) lines.push(`  ${args[i]} ${quote(args[i + 1] ?? '')}`);
  return lines.join(' \\\n');
}
