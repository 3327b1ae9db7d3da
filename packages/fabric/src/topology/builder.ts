/**
 * Topology as code — the one description of a system: the fabric model reads it
 * (`new Fabric(description)`) and `@p2pkit/testbed` boots it in QEMU (`boot(description)`).
 *
 * ```ts
 * const desc = topology()
 *   .rootPort('rp0', { link: { gen: 4, width: 16 } }, (rp) => rp.switch('sw0', (sw) => {
 *     sw.downstream('dn0').attach('nvme0');                                  // p2pkit device (vfio-user)
 *     sw.downstream('dn1', { acs: acsRedirect() }).attach({ id: 'nvme1', mps: 256 });
 *     sw.downstream('dn2').switch('sw1', (nested) => nested.downstream('dn3').attach('gpu0'));
 *     sw.downstream('dn4').attach('fn0', 'fn1');                              // one device, two functions
 *     sw.downstream('dn5').attach(qemuNvme({ serial: 'ref0', cmbMiB: 16 })); // QEMU's own NVMe: dev5
 *   }))
 *   .build();
 * ```
 *
 * Naming rule (the only one): an endpoint attached without an id is named `dev<N>`, N being the
 * number of endpoints attached before it in this builder (so `dev<N>` in tree order when the tree is
 * described top-down). The name is written into the description; nobody derives it again.
 */
import type { AcsSettings } from './acs.ts';
import type {
  DownstreamPortDescription,
  EndpointDescription,
  PayloadSize,
  RootPortDescription,
  SwitchDescription,
  TopologyDefaults,
  TopologyDescription,
} from './description.ts';
import type { EndpointInput } from './devices.ts';
import { DEFAULT_LINK, type LinkSpec } from './link.ts';

/**
 * What `attach` accepts: an id (a p2pkit device served over vfio-user), or an endpoint object
 * such as `qemuNvme(...)`, `vfioUser(...)` or `{ id, mps }`.
 */
export type EndpointLike = string | EndpointInput;

/** Options of a downstream-facing port (root port or switch downstream port). */
export interface PortOptions {
  /** Generation and width of the port side of the link below (root ports: also QEMU's `x-speed`/`x-width`). */
  link?: LinkSpec;
  /** ACS controls of the port (missing bits are off). */
  acs?: Partial<AcsSettings>;
  /** Max_Payload_Size of the port. */
  mps?: PayloadSize;
}

/** Options of a switch (they apply to its upstream port). */
export interface SwitchOptions {
  /** The upstream port's side of the link to its parent port. */
  link?: LinkSpec;
  /** ACS controls of the upstream port. */
  acs?: Partial<AcsSettings>;
  /** Max_Payload_Size of the upstream port. */
  mps?: PayloadSize;
}

/** Options of the whole topology. */
export interface TopologyOptions {
  /** Id of the host bridge node (default `host`). */
  hostBridgeId?: string;
  /** See {@link TopologyDescription.hostBridge}. Default true. */
  rootComplexPeerToPeer?: boolean;
  /** Link, MPS and MRRS where the description says nothing (default Gen4 x4, 256, 512). */
  defaults?: Partial<TopologyDefaults>;
}

/** Shared by the builders of one topology: how many endpoints were attached so far. */
interface Naming {
  endpoints: number;
}

function toEndpoint(naming: Naming, ep: EndpointLike): EndpointDescription {
  const n = naming.endpoints++;
  if (typeof ep === 'string') return { kind: 'endpoint', id: ep, device: { kind: 'vfio-user' } };
  // Copied field by field: callers may pass objects with more in them, and a description stays plain data.
  const out: EndpointDescription = { kind: 'endpoint', id: ep.id ?? `dev${n}`, device: { ...(ep.device ?? { kind: 'vfio-user' }) } };
  if (ep.link !== undefined) out.link = ep.link;
  if (ep.mps !== undefined) out.mps = ep.mps;
  if (ep.mrrs !== undefined) out.mrrs = ep.mrrs;
  if (ep.label !== undefined) out.label = ep.label;
  return out;
}

/** Builds what sits below a root port or a switch downstream port. */
export class PortBuilder {
  /** @internal */
  constructor(
    readonly description: RootPortDescription | DownstreamPortDescription,
    private readonly naming: Naming,
  ) {}

  /** Puts a switch below this port; `configure` adds its downstream ports. */
  switch(id: string, configure?: (sw: SwitchBuilder) => void): this;
  switch(id: string, options: SwitchOptions, configure?: (sw: SwitchBuilder) => void): this;
  switch(id: string, a?: SwitchOptions | ((sw: SwitchBuilder) => void), b?: (sw: SwitchBuilder) => void): this {
    const [options, configure] = typeof a === 'function' ? [{}, a] : [a ?? {}, b];
    if (this.description.switch || this.description.endpoints.length > 0) {
      throw new Error(`port ${this.description.id} already has something attached`);
    }
    const sw: SwitchDescription = { kind: 'switch', id, downstream: [], ...options };
    this.description.switch = sw;
    configure?.(new SwitchBuilder(sw, this.naming));
    return this;
  }

  /** Attaches a device. Attaching several makes them functions 0, 1, … of one multi-function device. */
  attach(...endpoints: EndpointLike[]): this {
    if (this.description.switch) throw new Error(`port ${this.description.id} already has a switch below it`);
    this.description.endpoints.push(...endpoints.map((ep) => toEndpoint(this.naming, ep)));
    return this;
  }
}

/** Builds a switch: its downstream ports. */
export class SwitchBuilder {
  /** @internal */
  constructor(
    readonly description: SwitchDescription,
    private readonly naming: Naming,
  ) {}

  /** Adds a downstream port and returns its builder (chain `.attach(dev)` or `.switch(...)` for a nested switch). */
  downstream(id: string, options: PortOptions = {}): PortBuilder {
    const port: DownstreamPortDescription = { kind: 'downstream-port', id, endpoints: [], ...options };
    this.description.downstream.push(port);
    return new PortBuilder(port, this.naming);
  }
}

/** Builds a root complex. */
export class TopologyBuilder {
  private readonly description: TopologyDescription;
  private readonly naming: Naming = { endpoints: 0 };

  /** @internal */
  constructor(options: TopologyOptions = {}) {
    this.description = {
      kind: 'topology',
      hostBridge: { id: options.hostBridgeId ?? 'host', peerToPeer: options.rootComplexPeerToPeer ?? true },
      rootPorts: [],
      endpoints: [],
      defaults: {
        link: { ...DEFAULT_LINK, ...options.defaults?.link },
        mps: options.defaults?.mps ?? 256,
        mrrs: options.defaults?.mrrs ?? 512,
      },
    };
  }

  /** Adds a root port; `configure` puts a switch or a device below it. */
  rootPort(id: string, configure?: (rp: PortBuilder) => void): this;
  rootPort(id: string, options: PortOptions, configure?: (rp: PortBuilder) => void): this;
  rootPort(id: string, a?: PortOptions | ((rp: PortBuilder) => void), b?: (rp: PortBuilder) => void): this {
    const [options, configure] = typeof a === 'function' ? [{}, a] : [a ?? {}, b];
    const port: RootPortDescription = { kind: 'root-port', id, endpoints: [], ...options };
    this.description.rootPorts.push(port);
    configure?.(new PortBuilder(port, this.naming));
    return this;
  }

  /**
   * Attaches root-complex integrated endpoints (on the root bus, QEMU `pcie.0`), each its own
   * device. They share no upstream bridge with anything, so Linux refuses p2p between them.
   */
  attach(...endpoints: EndpointLike[]): this {
    this.description.endpoints.push(...endpoints.map((ep) => toEndpoint(this.naming, ep)));
    return this;
  }

  /** The finished plain-data description (a deep copy; the builder can keep going). */
  build(): TopologyDescription {
    return structuredClone(this.description);
  }
}

/** Starts a topology description (see the module comment for an example and the naming rule). */
export function topology(options?: TopologyOptions): TopologyBuilder {
  return new TopologyBuilder(options);
}
