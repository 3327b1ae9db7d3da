/**
 * The resolved hierarchy: nodes with parents, and the physical links between them.
 *
 * A link is named after the downstream-facing port above it (`rp0` is the link from root port rp0
 * to whatever is below it, e.g. a switch's upstream port). Connections inside a switch (its internal
 * bus) and inside the root complex are not links and carry no counters.
 */
import { type AcsSettings, acs } from './acs.ts';
import type { EndpointDescription, EndpointDevice, PayloadSize, SwitchDescription, TopologyDescription } from './description.ts';
import { type LinkParameters, type LinkSpec, trainLink } from './link.ts';

export type NodeKind = 'host-bridge' | 'root-port' | 'switch-upstream' | 'switch-downstream' | 'endpoint';

/** One node of the hierarchy. */
export interface FabricNode {
  id: string;
  kind: NodeKind;
  /** Parent node id; undefined for the host bridge. */
  parent: string | undefined;
  children: string[];
  /** The link directly above this node, when the node sits at the downstream end of a link. */
  uplink: string | undefined;
  acs: AcsSettings;
  mps: PayloadSize;
  /** Only meaningful for endpoints. */
  mrrs: PayloadSize;
  label?: string;
  /** Endpoints only: how QEMU realises it (a p2pkit device over vfio-user, or QEMU's own). */
  device?: EndpointDevice;
}

/** What is at the lower end of a link. */
export type LinkRole = 'switch-upstream' | 'endpoint';

/** A physical PCIe link. */
export interface FabricLink {
  /** Same as the downstream-facing port above it. */
  id: string;
  /** The port at the upper end (root port or switch downstream port). */
  port: string;
  /** Node(s) at the lower end: one switch upstream port, or the functions of one device. */
  below: string[];
  role: LinkRole;
  params: LinkParameters;
  /** Smaller MPS of the two ends. */
  mps: PayloadSize;
  /** `rp0 → sw0` */
  name: string;
}

const PAYLOAD_SIZES = new Set([128, 256, 512, 1024, 2048, 4096]);
/** Functions of one device without ARI (PCIe Base 6.0 §2.2.4.2: 3-bit function number). */
const MAX_FUNCTIONS = 8;

function checkPayload(what: string, v: number): PayloadSize {
  if (!PAYLOAD_SIZES.has(v)) throw new RangeError(`${what}: ${v} is not a valid payload size (128..4096, power of two)`);
  return v as PayloadSize;
}

/** Resolved topology with lookups used by routing and counters. */
export class Topology {
  readonly hostBridgeId: string;
  readonly rootComplexPeerToPeer: boolean;
  private readonly nodes = new Map<string, FabricNode>();
  private readonly linkMap = new Map<string, FabricLink>();

  constructor(readonly description: TopologyDescription) {
    const d = description;
    this.hostBridgeId = d.hostBridge.id;
    this.rootComplexPeerToPeer = d.hostBridge.peerToPeer;
    const defaults = d.defaults;
    checkPayload('default mps', defaults.mps);
    checkPayload('default mrrs', defaults.mrrs);
    this.add({
      id: d.hostBridge.id,
      kind: 'host-bridge',
      parent: undefined,
      uplink: undefined,
      acs: acs(),
      mps: defaults.mps,
      mrrs: defaults.mrrs,
    });
    for (const ep of d.endpoints) this.addEndpoint(ep, d.hostBridge.id, undefined);
    for (const rp of d.rootPorts) {
      this.add({
        id: rp.id,
        kind: 'root-port',
        parent: d.hostBridge.id,
        uplink: undefined,
        acs: acs(rp.acs),
        mps: checkPayload(rp.id, rp.mps ?? defaults.mps),
        mrrs: defaults.mrrs,
      });
      this.addBelowPort(rp);
    }
  }

  private add(n: Omit<FabricNode, 'children'>): FabricNode {
    if (this.nodes.has(n.id)) throw new Error(`duplicate topology id '${n.id}'`);
    const node: FabricNode = { ...n, children: [] };
    this.nodes.set(n.id, node);
    if (n.parent !== undefined) this.nodes.get(n.parent)?.children.push(n.id);
    return node;
  }

  private addEndpoint(ep: EndpointDescription, parent: string, uplink: string | undefined): FabricNode {
    const defaults = this.description.defaults;
    const node = this.add({
      id: ep.id,
      kind: 'endpoint',
      parent,
      uplink,
      acs: acs(),
      mps: checkPayload(ep.id, ep.mps ?? defaults.mps),
      mrrs: checkPayload(ep.id, ep.mrrs ?? defaults.mrrs),
      device: ep.device,
    });
    if (ep.label !== undefined) node.label = ep.label;
    return node;
  }

  private addBelowPort(port: {
    id: string;
    link?: LinkSpec;
    mps?: PayloadSize;
    switch?: SwitchDescription;
    endpoints: EndpointDescription[];
  }): void {
    const defaults = this.description.defaults;
    const portMps = this.nodes.get(port.id)?.mps ?? defaults.mps;
    if (port.switch) {
      const sw = port.switch;
      const node = this.add({
        id: sw.id,
        kind: 'switch-upstream',
        parent: port.id,
        uplink: port.id,
        acs: acs(sw.acs),
        mps: checkPayload(sw.id, sw.mps ?? defaults.mps),
        mrrs: defaults.mrrs,
      });
      this.linkMap.set(port.id, {
        id: port.id,
        port: port.id,
        below: [sw.id],
        role: 'switch-upstream',
        params: trainLink(port.link, sw.link, defaults.link),
        mps: Math.min(portMps, node.mps) as PayloadSize,
        name: `${port.id} → ${sw.id}`,
      });
      for (const dn of sw.downstream) {
        this.add({
          id: dn.id,
          kind: 'switch-downstream',
          parent: sw.id,
          uplink: undefined,
          acs: acs(dn.acs),
          mps: checkPayload(dn.id, dn.mps ?? defaults.mps),
          mrrs: defaults.mrrs,
        });
        this.addBelowPort(dn);
      }
    } else if (port.endpoints.length > 0) {
      if (port.endpoints.length > MAX_FUNCTIONS)
        throw new Error(`port ${port.id}: ${port.endpoints.length} functions on one device (at most ${MAX_FUNCTIONS})`);
      const eps = port.endpoints.map((ep) => this.addEndpoint(ep, port.id, port.id));
      this.linkMap.set(port.id, {
        id: port.id,
        port: port.id,
        below: eps.map((e) => e.id),
        role: 'endpoint',
        params: trainLink(port.link, port.endpoints[0]?.link, defaults.link),
        mps: Math.min(portMps, ...eps.map((e) => e.mps)) as PayloadSize,
        name: `${port.id} → ${eps.map((e) => e.id).join('+')}`,
      });
    }
  }

  /** A node by id; throws for unknown ids. */
  node(id: string): FabricNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`unknown topology node '${id}'`);
    return n;
  }

  has(id: string): boolean {
    return this.nodes.has(id);
  }

  /** A link by id (its upper port's id); throws for unknown ids. */
  link(id: string): FabricLink {
    const l = this.linkMap.get(id);
    if (!l) throw new Error(`unknown link '${id}'`);
    return l;
  }

  /** All links, top-down in description order. */
  links(): FabricLink[] {
    return [...this.linkMap.values()];
  }

  /** Links whose lower end is a switch upstream port: where p2p savings show. */
  switchUpstreamLinks(): FabricLink[] {
    return this.links().filter((l) => l.role === 'switch-upstream');
  }

  /** All nodes in insertion (top-down) order. */
  allNodes(): FabricNode[] {
    return [...this.nodes.values()];
  }

  endpointIds(): string[] {
    return this.allNodes()
      .filter((n) => n.kind === 'endpoint')
      .map((n) => n.id);
  }

  /** `[id, parent, …, hostBridge]`. */
  pathToRoot(id: string): string[] {
    const out: string[] = [];
    for (let n: FabricNode | undefined = this.node(id); n; n = n.parent === undefined ? undefined : this.node(n.parent)) out.push(n.id);
    return out;
  }

  /** Whether `descendant` is `ancestor` or below it. */
  isBelow(descendant: string, ancestor: string): boolean {
    return this.pathToRoot(descendant).includes(ancestor);
  }
}
