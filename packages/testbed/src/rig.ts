/**
 * A rig: the p2pkit devices of one topology description, served from this process on one modelled
 * PCIe fabric built from that same description, one vfio-user socket each. `rig.topology` is the
 * description with the sockets filled in: boot exactly that.
 *
 * ```ts
 * const rig = new Rig({
 *   topology: topology().rootPort('rp0', (rp) => rp.switch('sw0', (sw) => {
 *     sw.downstream('dn0').attach('nvmeA');
 *     sw.downstream('dn1').attach('nvmeB');
 *   })),
 *   devices: { nvmeA: a, nvmeB: b },          // servable: instances, endpoints or declarations
 * });
 * await using guest = await boot(rig.topology, { provisioned });
 * rig.fabric.link('rp0');                      // bytes that crossed the switch upstream port
 * ```
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { consoleLogger, type Logger, rateLimitedLogger } from '@p2pkit/base';
import {
  endpointsOf,
  Fabric,
  mapEndpoints,
  type Servable,
  type ServedDevice,
  serve,
  TopologyBuilder,
  type TopologyDescription,
} from '@p2pkit/fabric';
import type { VfioUserServer } from '@p2pkit/vfio-user';

/** Options of a {@link Rig}. */
export interface RigOptions {
  /** The system: every endpoint attached by plain id (a vfio-user device without socket) is served here. */
  topology: TopologyDescription | TopologyBuilder;
  /** The p2pkit device for each such endpoint id: a device instance, an endpoint, or a declaration. */
  devices: Readonly<Record<string, Servable>>;
  /** Folder for the sockets (default: a new temporary folder, removed on close). */
  dir?: string;
  /** A socket path for some endpoint ids (the others get `<dir>/<id>.sock`). */
  sockets?: Readonly<Record<string, string>>;
  /** Log channels for every server (default: stderr, rate limited with rateLimitedLogger so a looping guest cannot flood it). */
  logger?: Logger;
}

/**
 * p2pkit devices on a fabric, each on its own vfio-user socket (`serve()` with the rig's fabric).
 * Listening starts in the constructor: build the rig before `boot()`.
 */
export class Rig implements Disposable {
  /** Folder holding the sockets. */
  readonly dir: string;
  /** The fabric model, built from the same description. */
  readonly fabric: Fabric;
  /** The description with every served endpoint's socket filled in: give it to `boot()`. */
  readonly topology: TopologyDescription;
  /** Each served endpoint id: its endpoint, server and fabric endpoint. */
  readonly served = new Map<string, ServedDevice>();
  /** The vfio-user server of each served endpoint id (`servers.get(id)?.session?.stats`). */
  readonly servers = new Map<string, VfioUserServer>();
  readonly #ownsDir: boolean;

  constructor(options: RigOptions) {
    const description = options.topology instanceof TopologyBuilder ? options.topology.build() : options.topology;
    const wanted = endpointsOf(description).filter((ep) => ep.device.kind === 'vfio-user' && ep.device.socket === undefined);
    const ids = new Set(wanted.map((ep) => ep.id));
    for (const id of Object.keys(options.devices)) {
      if (!ids.has(id)) throw new Error(`rig: device '${id}' is not a p2pkit endpoint (attached by plain id) of the topology`);
    }
    for (const id of ids) if (!(id in options.devices)) throw new Error(`rig: topology endpoint '${id}' has no device (add devices.${id})`);

    this.#ownsDir = !options.dir;
    this.dir = options.dir ?? mkdtempSync(join(tmpdir(), 'p2pkit-rig-'));
    const socketOf = (id: string) => options.sockets?.[id] ?? join(this.dir, `${id}.sock`);
    this.topology = mapEndpoints(description, (ep) =>
      ids.has(ep.id) ? { ...ep, device: { kind: 'vfio-user', socket: socketOf(ep.id) } } : ep,
    );
    this.fabric = new Fabric(this.topology);
    const logger = options.logger ?? rateLimitedLogger(consoleLogger('p2pkit'));
    try {
      for (const id of ids) {
        const served = serve(options.devices[id] as Servable, { socket: socketOf(id), fabric: this.fabric, id, logger });
        this.served.set(id, served);
        this.servers.set(id, served.server);
      }
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /**
   * Stop every server and leave the fabric. Device instances and endpoints stay open (their owners
   * close them); endpoints the rig created from declarations are closed.
   */
  close(): void {
    for (const s of this.served.values()) s.close();
    this.served.clear();
    this.servers.clear();
    if (this.#ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
