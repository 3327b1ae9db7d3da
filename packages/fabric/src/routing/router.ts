/**
 * PCIe routing of memory transactions (PCIe Base 6.0 §2.2.4 address routing, §6.12 ACS):
 *
 * - Host memory: every link from the requester up to the root complex.
 * - Peers below one switch: across the switch's internal bus, never its upstream link — unless the
 *   requester's ingress downstream port redirects peer requests (ACS RR/EC), which sends them up to
 *   the root complex and back down.
 * - Peers below different root ports (or root-complex integrated endpoints): through the root complex,
 *   if it routes peer-to-peer at all.
 * - Read completions are ID-routed back and follow the same rules with ACS CR on the completer's port.
 * - Functions of one multi-function device reach each other without crossing their link.
 */

import { type DmaRange, Errno, hex } from '@p2pkit/base';
import { redirectsCompletions, redirectsRequests } from '../topology/acs.ts';
import type { FabricNode, Topology } from '../topology/model.ts';
import type { AddressMap } from './address-map.ts';
import type { LinkCrossing, RouteDecision, TransferDirection } from './route.ts';

const MAX_ADDRESS = 1n << 64n;

/** What a host-memory route of one requester in one direction always says. */
interface HostRoute {
  readonly links: readonly LinkCrossing[];
  readonly completionLinks: readonly LinkCrossing[];
  readonly path: readonly string[];
  readonly reason: string;
  readonly mps: number;
}

/** A path between two nodes. */
interface PeerPath {
  nodes: readonly string[];
  links: readonly LinkCrossing[];
  /** Why it goes the way it does. */
  reason: string;
  /** False when the root complex would have to route peer-to-peer and does not. */
  routable: boolean;
}

/** Routes transfers of one fabric. Stateless apart from the topology and address map it reads. */
export class Router {
  /** Paths only depend on the (immutable) topology, so they are computed once per pair. */
  private readonly upCache = new Map<string, { nodes: readonly string[]; links: readonly LinkCrossing[] }>();
  private readonly peerCache = new Map<string, PeerPath>();
  /** The parts of a host-memory route that depend only on requester and direction, built once. */
  private readonly hostRoutes = { read: new Map<string, HostRoute>(), write: new Map<string, HostRoute>() };

  constructor(
    private readonly topology: Topology,
    private readonly addresses: AddressMap,
    private readonly isLocalBar: (endpoint: string, bar: number) => boolean,
  ) {}

  /**
   * Routes the first contiguous piece of `[address, address + length)`: the returned decision's
   * `length` stops where the decoding target changes.
   */
  route(requester: string, address: bigint, length: number, direction: TransferDirection): RouteDecision {
    const req = this.topology.node(requester);
    if (req.kind !== 'endpoint') throw new Error(`requester '${requester}' is a ${req.kind}, not an endpoint`);
    const mrrs = req.mrrs;
    if (!Number.isSafeInteger(length) || length < 0)
      return refusal(req, direction, address, 'unmapped', 0, `invalid length ${length}`, Errno.EINVAL);
    if (address < 0n || address + BigInt(length) > MAX_ADDRESS)
      return refusal(
        req,
        direction,
        address,
        'unmapped',
        length,
        `range ${hex(address)}+${length} exceeds the 64-bit address space`,
        Errno.EFAULT,
      );
    if (this.addresses.isRegistered(requester) && !this.addresses.isBusMasterEnabled(requester)) {
      return refusal(req, direction, address, 'disabled', length, `${requester} has Bus Master Enable off`, Errno.EPERM);
    }
    const decode = this.addresses.decode(address);
    const pieceEnd = address + BigInt(length) < decode.end ? address + BigInt(length) : decode.end;
    const pieceLength = Number(pieceEnd - address);

    switch (decode.kind) {
      case 'none':
        return refusal(req, direction, address, 'unmapped', pieceLength, `no BAR or host memory claims ${hex(address)}`, Errno.EFAULT);
      case 'window-hole':
        return refusal(
          req,
          direction,
          address,
          'unmapped',
          pieceLength,
          `${hex(address)} is inside ${decode.port}'s bridge window but no BAR below claims it (Unsupported Request)`,
          Errno.EFAULT,
        );
      case 'host': {
        const h = this.hostRoute(req, direction);
        return {
          kind: 'guest-ram',
          requester,
          direction,
          address,
          length: pieceLength,
          links: h.links,
          completionLinks: h.completionLinks,
          path: h.path,
          reason: h.reason,
          mps: h.mps,
          mrrs,
        };
      }
      case 'bar': {
        const bar = decode.bar;
        const target = { endpoint: bar.endpoint, bar: bar.index, offset: decode.offset };
        const where = `${bar.endpoint} BAR${bar.index}+${hex(decode.offset)}`;
        if (!decode.memoryEnabled)
          return {
            ...refusal(
              req,
              direction,
              address,
              'disabled',
              pieceLength,
              `${where}: memory space of ${bar.endpoint} is disabled`,
              Errno.EPERM,
            ),
            target,
          };
        const kind = this.isLocalBar(bar.endpoint, bar.index) ? 'peer-local' : 'peer-via-host';
        if (bar.endpoint === requester) {
          return {
            kind,
            requester,
            direction,
            address,
            length: pieceLength,
            target,
            links: [],
            completionLinks: [],
            path: [requester],
            reason: `${where}: own BAR, stays inside the function`,
            mps: req.mps,
            mrrs,
          };
        }
        const there = this.peerPath(requester, bar.endpoint, redirectsRequests);
        if (!there.routable)
          return { ...refusal(req, direction, address, 'disabled', pieceLength, `${where}: ${there.reason}`, Errno.EPERM), target };
        let completionLinks: readonly LinkCrossing[] = [];
        let reason = `${where}: ${there.reason}`;
        if (direction === 'read') {
          const back = this.peerPath(bar.endpoint, requester, redirectsCompletions);
          completionLinks = back.links;
          if (!sameCrossings(back.links, reverse(there.links))) reason += `; completions: ${back.reason}`;
        }
        const mps = Math.min(this.pathMps(there.links, req.mps), this.topology.node(bar.endpoint).mps);
        return {
          kind,
          requester,
          direction,
          address,
          length: pieceLength,
          target,
          links: there.links,
          completionLinks,
          path: there.nodes,
          reason,
          mps,
          mrrs,
        };
      }
    }
  }

  /** Routes the whole range, split at every change of target. Zero-length transfers give one empty decision. */
  routeAll(requester: string, address: bigint, length: number, direction: TransferDirection): RouteDecision[] {
    const out: RouteDecision[] = [];
    let addr = address;
    let left = length;
    do {
      const d = this.route(requester, addr, left, direction);
      out.push(d);
      if (d.length === 0 || d.errno === Errno.EINVAL) break;
      addr += BigInt(d.length);
      left -= d.length;
    } while (left > 0);
    return out;
  }

  /**
   * One guest-RAM decision for all of `ranges` (address: the first one's, length: their total), or
   * undefined when some range is not plain guest RAM for `requester` — a BAR, a hole, Bus Master
   * Enable off, a bad range: route those one by one, which also explains the refusal.
   */
  routeGuestRam(requester: string, ranges: readonly DmaRange[], direction: TransferDirection): RouteDecision | undefined {
    const first = ranges[0];
    const req = this.topology.node(requester);
    if (!first || req.kind !== 'endpoint') return undefined;
    if (this.addresses.isRegistered(requester) && !this.addresses.isBusMasterEnabled(requester)) return undefined;
    let total = 0;
    for (const { address, length } of ranges) {
      if (typeof address !== 'bigint' || !Number.isSafeInteger(length) || length <= 0 || address < 0n) return undefined;
      const end = address + BigInt(length);
      const decode = this.addresses.decode(address);
      if (decode.kind !== 'host' || end > decode.end || end > MAX_ADDRESS) return undefined;
      total += length;
    }
    const h = this.hostRoute(req, direction);
    return {
      kind: 'guest-ram',
      requester,
      direction,
      address: first.address,
      length: total,
      links: h.links,
      completionLinks: h.completionLinks,
      path: h.path,
      reason: h.reason,
      mps: h.mps,
      mrrs: req.mrrs,
    };
  }

  private hostRoute(req: FabricNode, direction: TransferDirection): HostRoute {
    const cache = this.hostRoutes[direction];
    let h = cache.get(req.id);
    if (!h) {
      const up = this.pathUp(req);
      const links = up.links;
      h = Object.freeze({
        links,
        completionLinks: direction === 'read' ? Object.freeze(reverse(links).map((l) => Object.freeze(l))) : Object.freeze([]),
        path: up.nodes,
        reason:
          links.length === 0
            ? 'host memory, root-complex integrated requester'
            : `host memory: up ${links.length} link(s) to ${this.topology.hostBridgeId}`,
        mps: this.pathMps(links, req.mps),
      });
      cache.set(req.id, h);
    }
    return h;
  }

  /** From a node up to the host bridge. */
  private pathUp(from: FabricNode): { nodes: readonly string[]; links: readonly LinkCrossing[] } {
    const cached = this.upCache.get(from.id);
    if (cached) return cached;
    const nodes: string[] = [];
    const links: LinkCrossing[] = [];
    for (const id of this.topology.pathToRoot(from.id)) {
      const n = this.topology.node(id);
      nodes.push(id);
      if (n.uplink !== undefined) links.push({ link: n.uplink, direction: 'upstream' });
    }
    const path = deepFreeze({ nodes, links });
    this.upCache.set(from.id, path);
    return path;
  }

  /** Path of a TLP from `from` to `to`, redirecting at a downstream port when `redirects(port.acs)`. */
  private peerPath(from: string, to: string, redirects: (acs: FabricNode['acs']) => boolean): PeerPath {
    const key = `${from}\u0000${to}\u0000${redirects === redirectsRequests ? 'req' : 'cpl'}`;
    let path = this.peerCache.get(key);
    if (!path) {
      path = deepFreeze(this.computePeerPath(from, to, redirects));
      this.peerCache.set(key, path);
    }
    return path;
  }

  private computePeerPath(from: string, to: string, redirects: (acs: FabricNode['acs']) => boolean): PeerPath {
    const topo = this.topology;
    const a = topo.node(from);
    const b = topo.node(to);
    if (a.parent === b.parent && a.uplink !== undefined && a.uplink === b.uplink) {
      return { nodes: [from, to], links: [], reason: `functions of one device on link ${a.uplink}: no link crossed`, routable: true };
    }
    const nodes: string[] = [from];
    const links: LinkCrossing[] = [];
    const chain = topo.pathToRoot(from);
    let turn: string | undefined;
    let reason = '';
    const redirectedAt: string[] = [];
    for (let i = 1; i < chain.length && turn === undefined; i++) {
      const prev = topo.node(chain[i - 1] as string);
      const cur = topo.node(chain[i] as string);
      if (prev.uplink !== undefined) links.push({ link: prev.uplink, direction: 'upstream' });
      nodes.push(cur.id);
      if (cur.kind === 'switch-downstream' && cur.parent !== undefined && topo.isBelow(to, cur.parent)) {
        if (redirects(cur.acs)) {
          redirectedAt.push(cur.id);
          continue;
        }
        turn = cur.parent;
        reason = `peers below switch ${cur.parent}: direct`;
      } else if (cur.kind === 'host-bridge') {
        turn = cur.id;
        if (!topo.rootComplexPeerToPeer) {
          return { nodes, links, reason: `root complex ${cur.id} does not route peer-to-peer`, routable: false };
        }
        reason =
          redirectedAt.length > 0
            ? `ACS redirect on ${redirectedAt.join(', ')}: up through the root complex ${cur.id} and back`
            : `no common switch: through the root complex ${cur.id}`;
      }
    }
    if (turn === undefined) throw new Error(`no path from ${from} to ${to}`);
    const down = topo.pathToRoot(to);
    const turnIndex = down.indexOf(turn);
    for (let i = turnIndex - 1; i >= 0; i--) {
      const n = topo.node(down[i] as string);
      if (n.uplink !== undefined) links.push({ link: n.uplink, direction: 'downstream' });
      nodes.push(n.id);
    }
    return { nodes, links, reason, routable: true };
  }

  private pathMps(links: readonly LinkCrossing[], start: number): number {
    let mps = start;
    for (const l of links) mps = Math.min(mps, this.topology.link(l.link).mps);
    return mps;
  }
}

/** A refused transfer's decision. */
function refusal(
  req: FabricNode,
  direction: TransferDirection,
  address: bigint,
  kind: 'unmapped' | 'disabled',
  length: number,
  reason: string,
  errno: number,
): RouteDecision {
  return {
    kind,
    requester: req.id,
    direction,
    address,
    length,
    links: [],
    completionLinks: [],
    path: [],
    reason,
    errno,
    mps: req.mps,
    mrrs: req.mrrs,
  };
}

/** Freezes a cached path so decisions sharing it cannot corrupt the cache. */
function deepFreeze<T extends { nodes: readonly string[]; links: readonly LinkCrossing[] }>(p: T): T {
  for (const l of p.links) Object.freeze(l);
  Object.freeze(p.links);
  Object.freeze(p.nodes);
  return Object.freeze(p);
}

function reverse(links: readonly LinkCrossing[]): LinkCrossing[] {
  return links
    .slice()
    .reverse()
    .map((l) => ({ link: l.link, direction: l.direction === 'upstream' ? 'downstream' : 'upstream' }));
}

function sameCrossings(a: readonly LinkCrossing[], b: readonly LinkCrossing[]): boolean {
  return a.length === b.length && a.every((l, i) => l.link === b[i]?.link && l.direction === b[i]?.direction);
}
