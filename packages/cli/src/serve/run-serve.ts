/** What `p2pkit serve` does once its flags are parsed (loaded only for that command). */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { endpointsOf, type Servable } from '@p2pkit/fabric';
import { checkQemu, Rig } from '@p2pkit/testbed';
import { ExitCode, UsageError } from '../exit.ts';
import { provisionShown } from '../machine-options.ts';
import { createDevice, parseDeviceSpecs } from './device-spec.ts';
import { formatArguments, type Layout, layoutTopology, loadTopologyFile, qemuArguments, servedIds } from './plan.ts';
import { printStats } from './stats.ts';

/** Flags of `p2pkit serve`. */
export interface ServeFlags {
  socket?: string;
  dir?: string;
  topology?: string;
  layout: string;
  memory: string;
  qemu?: string;
  cache?: string;
  stats?: string | true;
  json?: boolean;
}

/** Serve until SIGINT/SIGTERM, then stop cleanly. */
export async function runServe(specTexts: readonly string[], f: ServeFlags): Promise<void> {
  const specs = parseDeviceSpecs(specTexts.length > 0 || f.topology ? specTexts : ['nvme']);
  const file = f.topology ? await loadTopologyFile(f.topology) : undefined;
  const description =
    file?.topology ??
    layoutTopology(
      specs.map((s) => s.id),
      f.layout as Layout,
    );
  const ids = servedIds(description);
  const ownsDir = !f.dir;
  const dir = f.dir ? resolve(f.dir) : mkdtempSync(join(tmpdir(), 'p2pkit-serve-'));
  mkdirSync(dir, { recursive: true });

  const devices: Record<string, Servable> = {};
  const summaries = new Map<string, string>();
  const cleanup = async (): Promise<void> => {
    // Instances and endpoints are ours to close (declarations are the rig's): flushes namespace images and PMRs.
    for (const d of Object.values(devices).reverse()) if (!('create' in d)) await (d.close as () => unknown)();
    if (ownsDir) rmSync(dir, { recursive: true, force: true });
  };
  let rig: Rig | undefined;
  try {
    if (file?.devices)
      Object.assign(devices, typeof file.devices === 'function' ? await file.devices({ dir, generation: 0 }) : file.devices);
    // With a topology file, specs without id= take the endpoints that still lack a device, in order.
    const open = ids.filter((id) => !(id in devices));
    for (const spec of specs) {
      const explicit = spec.options.has('id') || !file;
      const id = explicit ? spec.id : open.shift();
      if (!id || !ids.includes(id))
        throw new UsageError(
          `device ${spec.text}: the topology has no endpoint ${id ?? '(all have devices)'} to serve it as (endpoints: ${ids.join(', ')})`,
        );
      const { device, summary } = await createDevice({ ...spec, id }, dir);
      devices[id] = device;
      summaries.set(id, summary);
    }
    const missing = ids.filter((id) => !(id in devices));
    if (missing.length > 0) throw new UsageError(`no device for endpoint(s) ${missing.join(', ')}: add device specs with id=`);

    rig = new Rig({ topology: description, devices, dir, ...(f.socket && ids[0] ? { sockets: { [ids[0]]: resolve(f.socket) } } : {}) });
    const qemu = f.qemu
      ? { binary: f.qemu, version: await checkQemu(f.qemu) }
      : (await provisionShown(f.cache ? { cacheDir: f.cache } : {})).qemu;
    const args = qemuArguments(rig.topology, f.memory, dir);
    const sockets = Object.fromEntries(
      endpointsOf(rig.topology).flatMap((ep) => (ep.device.kind === 'vfio-user' ? [[ep.id, ep.device.socket ?? '']] : [])),
    );
    if (f.json) {
      const list = ids.map((id) => ({ id, socket: sockets[id], device: summaries.get(id) ?? 'from the topology file' }));
      process.stdout.write(
        `${JSON.stringify({ event: 'ready', dir, qemu: { binary: qemu.binary, version: qemu.version }, args, devices: list })}\n`,
      );
    } else {
      process.stdout.write(`p2pkit serve: ${ids.length} device(s) on one fabric (${dir})\n`);
      for (const id of ids)
        process.stdout.write(`  ${id.padEnd(8)} ${sockets[id]}\n           ${summaries.get(id) ?? 'device from the topology file'}\n`);
      process.stdout.write(`QEMU ${qemu.version}: ${qemu.binary}\n`);
      process.stdout.write(`QEMU arguments (add your -kernel/-initrd/-append and disks; see docs/qemu.md):\n${formatArguments(args)}\n`);
      process.stdout.write('Serving. Ctrl-C stops: sockets removed, namespace images flushed.\n');
    }
    const stopStats = f.stats ? printStats(rig.fabric, f.stats === true ? 1000 : Number(f.stats), f.json ?? false) : () => {};
    await new Promise<void>((done) => {
      const stop = (): void => {
        // A second signal while stopping: give up at once.
        process.once('SIGINT', () => process.exit(ExitCode.interrupted));
        done();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    stopStats();
  } finally {
    rig?.close();
    await cleanup();
  }
  process.stderr.write('p2pkit serve: stopped (sockets removed, namespace images flushed)\n');
  process.exit(ExitCode.ok);
}
