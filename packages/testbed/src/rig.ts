/**
 * A rig: p2pkit endpoints served from this process on one modelled PCIe fabric, placed in the same
 * topology that QEMU boots. The topology description drives both the fabric model and QEMU's argv.
 *
 * ```ts
 * const rig = new Rig();
 * const topo = topology().rootPort('rp0', (rp) => rp.switch('sw0', (sw) => {
 *   sw.downstream('dn0').attach(rig.serve('nvme0', a.endpoint));
 *   sw.downstream('dn1').attach(rig.serve('nvme1', b.endpoint));
 * }));
 * rig.start(topo);                       // fabric + one vfio-user server per endpoint
 * await using guest = await boot(topo, { provisioned });
 * rig.fabric.link('rp0');                // bytes that crossed the switch upstream port
 * ```
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Fabric, FabricEndpoint, fromQemuTopology } from '@p2pkit/fabric';
import type { Endpoint } from '@p2pkit/pci';
import { consoleLogger, type Logger } from '@p2pkit/base';
import { VfioUserServer } from '@p2pkit/vfio-user';
import { resolveTopology, type Topology, type TopologyBuilder, type VfioUserDevice, vfioUser } from './topology.ts';

export interface RigOptions {
  /** Folder for the sockets (default: a new temporary folder, removed on close). */
  dir?: string;
  /** Log channels for every server (default: stderr). */
  logger?: Logger;
}

export class Rig implements Disposable {
  readonly dir: string;
  readonly servers = new Map<string, VfioUserServer>();
  readonly devices = new Map<string, FabricEndpoint>();
  #pending = new Map<string, { endpoint: Endpoint; socket: string }>();
  #fabric: Fabric | undefined;
  readonly #ownsDir: boolean;
  readonly #logger: Logger;

  constructor(options: RigOptions = {}) {
    this.#ownsDir = !options.dir;
    this.dir = options.dir ?? mkdtempSync(join(tmpdir(), 'p2pkit-rig-'));
    this.#logger = options.logger ?? consoleLogger('p2pkit');
  }

  /** Declare `endpoint` under topology id `id`; returns the QEMU device to attach to a port. */
  serve(id: string, endpoint: Endpoint): VfioUserDevice {
    if (this.#pending.has(id) || this.devices.has(id)) throw new Error(`rig: device id '${id}' used twice`);
    const socket = join(this.dir, `${id}.sock`);
    this.#pending.set(id, { endpoint, socket });
    return vfioUser({ socket, id });
  }

  /** Build the fabric from `topology` and start listening (before QEMU boots). */
  start(topology: Topology | TopologyBuilder): Fabric {
    if (this.#fabric) throw new Error('rig: already started');
    const fabric = new Fabric(fromQemuTopology(resolveTopology(topology)));
    this.#fabric = fabric;
    for (const [id, { endpoint, socket }] of this.#pending) {
      const device = new FabricEndpoint(fabric, id, endpoint);
      this.devices.set(id, device);
      this.servers.set(id, VfioUserServer.listen(socket, device, { logger: this.#logger }));
    }
    this.#pending.clear();
    return fabric;
  }

  /**
   * Tell the fabric about BARs of a device that p2pkit does not serve (e.g. QEMU's own nvme with a
   * CMB, id from its topology entry), so transfers to it are routed as peer traffic through QEMU
   * (DMA_READ/DMA_WRITE) instead of being taken for host memory. Addresses are learned later with
   * `rig.fabric.setBarAddress(id, bar, address)`, e.g. from the guest's sysfs `resource` file.
   */
  declareForeignDevice(id: string, bars: { index: number; size: number; prefetchable?: boolean }[]): void {
    this.fabric.registerEndpoint(id, { bars });
  }

  get fabric(): Fabric {
    if (!this.#fabric) throw new Error('rig: not started');
    return this.#fabric;
  }

  /** Stop every server and leave the fabric; endpoints themselves stay open (their owners close them). */
  close(): void {
    for (const s of this.servers.values()) s.close();
    for (const d of this.devices.values()) d.close();
    this.servers.clear();
    this.devices.clear();
    if (this.#ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
