/**
 * Topology as code:
 *
 * ```ts
 * const desc = topology()
 *   .rootPort('rp0', { link: { gen: 4, width: 16 } }, (rp) => rp.switch('sw0', (sw) => {
 *     sw.downstream('dn0').attach('nvme0');
 *     sw.downstream('dn1', { acs: acsRedirect() }).attach({ id: 'nvme1', mps: 256 });
 *   }))
 *   .build();
 * ```
 *
 * The shape mirrors `@p2pkit/testbed`'s QEMU topology builder so one description can drive both.
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
import { DEFAULT_LINK, type LinkSpec } from './link.ts';

/** What `attach` accepts: an id, or any object with an `id` (extra fields are ignored). */
export type EndpointLike = string | ({ id: string } & Partial<Omit<EndpointDescription, 'kind' | 'id'>>);

/** Options of a downstream-facing port (root port or switch downstream port). */
export interface PortOptions {
  link?: LinkSpec;
  acs?: Partial<AcsSettings>;
  mps?: PayloadSize;
}

/** Options of a switch (they apply to its upstream port). */
export interface SwitchOptions {
  link?: LinkSpec;
  acs?: Partial<AcsSettings>;
  mps?: PayloadSize;
}

/** Options of the whole topology. */
export interface TopologyOptions {
  hostBridgeId?: string;
  /** See {@link TopologyDescription.hostBridge}. Default true. */
  rootComplexPeerToPeer?: boolean;
  defaults?: Partial<TopologyDefaults>;
}

function toEndpoint(ep: EndpointLike): EndpointDescription {
  if (typeof ep === 'string') return { kind: 'endpoint', id: ep };
  const out: EndpointDescription = { kind: 'endpoint', id: ep.id };
  if (ep.link !== undefined) out.link = ep.link;
  if (ep.mps !== undefined) out.mps = ep.mps;
  if (ep.mrrs !== undefined) out.mrrs = ep.mrrs;
  if (ep.label !== undefined) out.label = ep.label;
  return out;
}

/** Builds what sits below a root port or a switch downstream port. */
export class PortBuilder {
  /** @internal */
  constructor(readonly description: RootPortDescription | DownstreamPortDescription) {}

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
    configure?.(new SwitchBuilder(sw));
    return this;
  }

  /** Attaches a device. Attaching several makes them functions of one multi-function device. */
  attach(...endpoints: EndpointLike[]): this {
    if (this.description.switch) throw new Error(`port ${this.description.id} already has a switch below it`);
    this.description.endpoints.push(...endpoints.map(toEndpoint));
    return this;
  }
}

/** Builds a switch: its downstream ports. */
export class SwitchBuilder {
  /** @internal */
  constructor(readonly description: SwitchDescription) {}

  /** Adds a downstream port and returns its builder (chain `.attach(dev)` or `.switch(...)`). */
  downstream(id: string, options: PortOptions = {}): PortBuilder {
    const port: DownstreamPortDescription = { kind: 'downstream-port', id, endpoints: [], ...options };
    this.description.downstream.push(port);
    return new PortBuilder(port);
  }
}

/** Builds a root complex. */
export class TopologyBuilder {
  private readonly description: TopologyDescription;

  /** @internal */
  constructor(options: TopologyOptions = {}) {
    this.description = {
      kind: 'topology',
      hostBridge: { id: options.hostBridgeId ?? 'host', peerToPeer: options.rootComplexPeerToPeer ?? true },
      rootPorts: [],
      endpoints: [],
      defaults: { link: { ...DEFAULT_LINK, ...options.defaults?.link }, mps: options.defaults?.mps ?? 256, mrrs: options.defaults?.mrrs ?? 512 },
    };
  }

  /** Adds a root port; `configure` puts a switch or a device below it. */
  rootPort(id: string, configure?: (rp: PortBuilder) => void): this;
  rootPort(id: string, options: PortOptions, configure?: (rp: PortBuilder) => void): this;
  rootPort(id: string, a?: PortOptions | ((rp: PortBuilder) => void), b?: (rp: PortBuilder) => void): this {
    const [options, configure] = typeof a === 'function' ? [{}, a] : [a ?? {}, b];
    const port: RootPortDescription = { kind: 'root-port', id, endpoints: [], ...options };
    this.description.rootPorts.push(port);
    configure?.(new PortBuilder(port));
    return this;
  }

  /** Attaches a root-complex integrated endpoint (on the root bus, like QEMU devices on `pcie.0`). */
  attach(...endpoints: EndpointLike[]): this {
    this.description.endpoints.push(...endpoints.map(toEndpoint));
    return this;
  }

  /** The finished plain-data description (a deep copy; the builder can keep going). */
  build(): TopologyDescription {
    return structuredClone(this.description);
  }
}

/** Starts a topology description. */
export function topology(options?: TopologyOptions): TopologyBuilder {
  return new TopologyBuilder(options);
}
