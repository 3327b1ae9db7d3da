/**
 * Topology as code: a plain, serialisable description of the guest's PCIe tree.
 *
 * The builder produces a {@link Topology} — frozen plain data with no functions — so that the
 * same description can drive the QEMU command line (see `qemu-args.ts`) and any other consumer
 * (e.g. the fabric model in `@p2pkit/fabric`).
 *
 * ```ts
 * const rig = topology()
 *   .rootPort('rp0', (rp) => rp.switch('sw0', (sw) => {
 *     sw.downstream('dn0').attach(qemuNvme({ serial: 'cmb0', cmbMiB: 64 }));
 *     sw.downstream('dn1').attach(qemuNvme({ serial: 'peer0' }));
 *   }))
 *   .build();
 * ```
 */

/** A device served by a vfio-user server listening on a UNIX socket (QEMU `vfio-user-pci`). */
export interface VfioUserDevice {
  readonly kind: 'vfio-user';
  /** QEMU device id; generated from the position when omitted. */
  readonly id?: string;
  /** Path of the server's UNIX socket; the server must listen before the guest boots. */
  readonly socket: string;
}

/** QEMU's built-in NVMe controller with one namespace backed by a raw image. */
export interface QemuNvmeDevice {
  readonly kind: 'qemu-nvme';
  readonly id?: string;
  /** Controller serial number; also how guest scripts find the device (`nvme_dev_by_serial`). */
  readonly serial: string;
  /** Namespace size in MiB when the testbed creates the image (default 64). */
  readonly sizeMiB: number;
  /** Controller Memory Buffer size in MiB (0 = none). A CMB ≥ 2 MiB is published as p2pmem. */
  readonly cmbMiB: number;
  /** Existing raw image to use instead of a fresh sparse file (opened read-write). */
  readonly image?: string;
}

/** Any endpoint that can sit on a port. */
export type Device = VfioUserDevice | QemuNvmeDevice;

/** A downstream port of a switch (QEMU `xio3130-downstream`). */
export interface DownstreamPort {
  readonly kind: 'downstream-port';
  readonly id: string;
  readonly device?: Device;
}

/** A PCIe switch: one upstream port (QEMU `x3130-upstream`) and its downstream ports. */
export interface Switch {
  readonly kind: 'switch';
  readonly id: string;
  readonly downstream: readonly DownstreamPort[];
}

/** A root port on the root complex (QEMU `pcie-root-port`) holding a switch or a device. */
export interface RootPort {
  readonly kind: 'root-port';
  readonly id: string;
  readonly child?: Switch | Device;
}

/** The whole tree: devices directly on the root bus `pcie.0` plus root ports. */
export interface Topology {
  readonly rootBus: readonly Device[];
  readonly rootPorts: readonly RootPort[];
}

/** Options of {@link vfioUser}. */
export interface VfioUserOptions {
  socket: string;
  id?: string;
}

/** Describe a vfio-user device (the server must already listen on `socket` at boot). */
export function vfioUser(options: VfioUserOptions): VfioUserDevice {
  if (!options.socket) throw new TypeError('vfioUser: socket path is required');
  return Object.freeze({ kind: 'vfio-user', socket: options.socket, ...(options.id ? { id: options.id } : {}) });
}

/** Options of {@link qemuNvme}. */
export interface QemuNvmeOptions {
  serial: string;
  id?: string;
  sizeMiB?: number;
  cmbMiB?: number;
  image?: string;
}

/** Describe a QEMU NVMe controller (reference model for p2p: give it `cmbMiB: 64`). */
export function qemuNvme(options: QemuNvmeOptions): QemuNvmeDevice {
  if (!/^[A-Za-z0-9_-]{1,20}$/.test(options.serial)) {
    throw new TypeError(`qemuNvme: serial must be 1-20 characters of [A-Za-z0-9_-], got ${JSON.stringify(options.serial)}`);
  }
  const sizeMiB = options.sizeMiB ?? 64;
  const cmbMiB = options.cmbMiB ?? 0;
  if (!Number.isInteger(sizeMiB) || sizeMiB < 1) throw new RangeError('qemuNvme: sizeMiB must be a positive integer');
  if (!Number.isInteger(cmbMiB) || cmbMiB < 0) throw new RangeError('qemuNvme: cmbMiB must be a non-negative integer');
  return Object.freeze({
    kind: 'qemu-nvme',
    serial: options.serial,
    sizeMiB,
    cmbMiB,
    ...(options.id ? { id: options.id } : {}),
    ...(options.image ? { image: options.image } : {}),
  });
}

/** Builder for a switch's downstream port. */
export class DownstreamPortBuilder {
  #device: Device | undefined;
  constructor(readonly id: string) {}
  /** Put `device` below this port (one device per port). */
  attach(device: Device): this {
    if (this.#device) throw new Error(`downstream port ${this.id} already has a device`);
    this.#device = device;
    return this;
  }
  /** @internal */
  build(): DownstreamPort {
    return Object.freeze({ kind: 'downstream-port', id: this.id, ...(this.#device ? { device: this.#device } : {}) });
  }
}

/** Builder for a switch. */
export class SwitchBuilder {
  readonly #ports: DownstreamPortBuilder[] = [];
  constructor(readonly id: string) {}
  /** Add a downstream port and return its builder (chain `.attach(dev)`). */
  downstream(id: string): DownstreamPortBuilder {
    const port = new DownstreamPortBuilder(id);
    this.#ports.push(port);
    return port;
  }
  /** @internal */
  build(): Switch {
    return Object.freeze({ kind: 'switch', id: this.id, downstream: Object.freeze(this.#ports.map((p) => p.build())) });
  }
}

/** Builder for a root port: holds either one switch or one device. */
export class RootPortBuilder {
  #child: SwitchBuilder | Device | undefined;
  constructor(readonly id: string) {}
  /** Put a switch below this root port; `configure` adds its downstream ports. */
  switch(id: string, configure: (sw: SwitchBuilder) => void): this {
    if (this.#child) throw new Error(`root port ${this.id} already has a child`);
    const sw = new SwitchBuilder(id);
    configure(sw);
    this.#child = sw;
    return this;
  }
  /** Put a device directly below this root port. */
  attach(device: Device): this {
    if (this.#child) throw new Error(`root port ${this.id} already has a child`);
    this.#child = device;
    return this;
  }
  /** @internal */
  build(): RootPort {
    const child = this.#child instanceof SwitchBuilder ? this.#child.build() : this.#child;
    return Object.freeze({ kind: 'root-port', id: this.id, ...(child ? { child } : {}) });
  }
}

/** Fluent builder of a {@link Topology}; call {@link TopologyBuilder.build} or pass it to `boot()`. */
export class TopologyBuilder {
  readonly #rootBus: Device[] = [];
  readonly #rootPorts: RootPortBuilder[] = [];

  /** Add a root port; `configure` may put a switch or a device below it. */
  rootPort(id: string, configure?: (rp: RootPortBuilder) => void): this {
    const rp = new RootPortBuilder(id);
    configure?.(rp);
    this.#rootPorts.push(rp);
    return this;
  }

  /** Put a device directly on the root bus `pcie.0` (integrated endpoint; no common bridge → no p2p). */
  rootBus(device: Device): this {
    this.#rootBus.push(device);
    return this;
  }

  /** Freeze into plain data and validate (unique ids). */
  build(): Topology {
    const topo: Topology = Object.freeze({
      rootBus: Object.freeze([...this.#rootBus]),
      rootPorts: Object.freeze(this.#rootPorts.map((rp) => rp.build())),
    });
    validateTopology(topo);
    return topo;
  }
}

/** Start describing a topology. */
export function topology(): TopologyBuilder {
  return new TopologyBuilder();
}

/** Every device of the topology, in the order QEMU will see them on the command line. */
export function devicesOf(topo: Topology): Device[] {
  const out: Device[] = [...topo.rootBus];
  for (const rp of topo.rootPorts) {
    if (!rp.child) continue;
    if (rp.child.kind === 'switch') {
      for (const dn of rp.child.downstream) if (dn.device) out.push(dn.device);
    } else {
      out.push(rp.child);
    }
  }
  return out;
}

const ID_RE = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

/** Throw if ids are malformed or reused, or if NVMe serials repeat. */
export function validateTopology(topo: Topology): void {
  const ids = new Set<string>();
  const claim = (id: string, what: string): void => {
    if (!ID_RE.test(id)) throw new Error(`invalid ${what} id ${JSON.stringify(id)} (letters, digits, _ . -; start with a letter)`);
    if (ids.has(id)) throw new Error(`duplicate id ${JSON.stringify(id)} in topology`);
    ids.add(id);
  };
  for (const rp of topo.rootPorts) {
    claim(rp.id, 'root port');
    if (rp.child?.kind === 'switch') {
      claim(rp.child.id, 'switch');
      for (const dn of rp.child.downstream) claim(dn.id, 'downstream port');
    }
  }
  const serials = new Set<string>();
  for (const dev of devicesOf(topo)) {
    if (dev.id) claim(dev.id, 'device');
    if (dev.kind === 'qemu-nvme') {
      if (serials.has(dev.serial)) throw new Error(`duplicate NVMe serial ${dev.serial}`);
      serials.add(dev.serial);
    }
  }
}

/** Accept either a builder or already-built data. */
export function resolveTopology(t: Topology | TopologyBuilder): Topology {
  if (t instanceof TopologyBuilder) return t.build();
  validateTopology(t);
  return t;
}
