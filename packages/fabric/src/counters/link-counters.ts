/**
 * Per-link and per-endpoint traffic counters. One `account` call per routed transfer updates every
 * link the request and its completions cross, in the direction they cross it.
 */
import type { DmaRange } from '@p2pkit/base';
import type { RouteDecision, TargetKind } from '../routing/route.ts';
import type { Topology } from '../topology/model.ts';
import { TLP_OVERHEAD_BYTES, tlpBreakdown, tlpCount } from './tlp.ts';

/** Traffic in one direction of one link. */
export interface DirectionCounters {
  /** Payload bytes (write data and completion data). */
  bytes: number;
  /** All TLPs. */
  tlps: number;
  writeTlps: number;
  readRequestTlps: number;
  completionTlps: number;
  /** Payload plus an estimated per-TLP overhead ({@link TLP_OVERHEAD_BYTES}). */
  wireBytes: number;
}

/** Traffic of one link, both directions. */
export interface LinkTotals {
  link: string;
  upstream: DirectionCounters;
  downstream: DirectionCounters;
}

/** Traffic one endpoint initiated, and traffic that targeted its BARs. */
export interface EndpointTotals {
  endpoint: string;
  /** Transfers it initiated that were carried out (split pieces count once each). */
  transactions: number;
  bytesRead: number;
  bytesWritten: number;
  /** Bytes it initiated, by target kind. */
  byKind: Record<Exclude<TargetKind, 'unmapped' | 'disabled'>, number>;
  /** Transfers refused (unmapped, disabled). */
  refused: number;
  /** Bytes peers read from its BARs. */
  servedReadBytes: number;
  /** Bytes peers wrote to its BARs. */
  servedWriteBytes: number;
}

/** A point-in-time copy of all counters. */
export interface CounterSnapshot {
  links: LinkTotals[];
  endpoints: EndpointTotals[];
  transactions: number;
}

export function emptyDirection(): DirectionCounters {
  return { bytes: 0, tlps: 0, writeTlps: 0, readRequestTlps: 0, completionTlps: 0, wireBytes: 0 };
}

function emptyEndpoint(endpoint: string): EndpointTotals {
  return {
    endpoint,
    transactions: 0,
    bytesRead: 0,
    bytesWritten: 0,
    byKind: { 'guest-ram': 0, 'peer-local': 0, 'peer-via-host': 0 },
    refused: 0,
    servedReadBytes: 0,
    servedWriteBytes: 0,
  };
}

/** What counters need to know about one transfer (a `RouteDecision` has all of it; so does a trace record). */
export type AccountedTransfer = Pick<
  RouteDecision,
  'kind' | 'requester' | 'direction' | 'address' | 'length' | 'links' | 'completionLinks' | 'mps' | 'mrrs'
> & {
  target?: { endpoint: string } | undefined;
};

/** Counters of one fabric. Links and endpoints of the topology are present from the start (all zero). */
export class FabricCounters {
  private readonly linkCounters = new Map<string, LinkTotals>();
  private readonly endpointCounters = new Map<string, EndpointTotals>();
  private total = 0;

  constructor(topology?: Topology) {
    if (topology) {
      for (const l of topology.links()) this.linkTotals(l.id);
      for (const e of topology.endpointIds()) this.endpointTotals(e);
    }
  }

  private linkTotals(link: string): LinkTotals {
    let t = this.linkCounters.get(link);
    if (!t) {
      t = { link, upstream: emptyDirection(), downstream: emptyDirection() };
      this.linkCounters.set(link, t);
    }
    return t;
  }

  private endpointTotals(endpoint: string): EndpointTotals {
    let t = this.endpointCounters.get(endpoint);
    if (!t) {
      t = emptyEndpoint(endpoint);
      this.endpointCounters.set(endpoint, t);
    }
    return t;
  }

  /** Records one routed transfer (refused ones only count as refused). */
  account(t: AccountedTransfer): void {
    if (t.kind === 'unmapped' || t.kind === 'disabled') {
      this.endpointTotals(t.requester).refused++;
      return;
    }
    const tlps = tlpBreakdown(t.direction, t.address, t.length, t.mps, t.mrrs);
    this.add(t, 1, t.length, tlps.writes, tlps.readRequests, tlps.completions);
  }

  /**
   * Records each of `ranges` as one transfer routed like `t` (same links, target and limits):
   * the counters end up exactly as after one {@link FabricCounters.account} per range.
   */
  accountRanges(t: AccountedTransfer, ranges: readonly DmaRange[]): void {
    if (t.kind === 'unmapped' || t.kind === 'disabled') {
      this.endpointTotals(t.requester).refused += ranges.length;
      return;
    }
    let bytes = 0;
    let writes = 0;
    let readRequests = 0;
    let completions = 0;
    const requestLimit = Math.min(t.mrrs, 4096);
    const completionLimit = Math.min(t.mps, t.mrrs);
    for (const r of ranges) {
      bytes += r.length;
      if (t.direction === 'write') writes += tlpCount(r.address, r.length, t.mps);
      else {
        readRequests += tlpCount(r.address, r.length, requestLimit);
        completions += tlpCount(r.address, r.length, completionLimit);
      }
    }
    this.add(t, ranges.length, bytes, writes, readRequests, completions);
  }

  /** Adds `count` transfers of `bytes` in total, taking the given TLPs, on `t`'s route. */
  private add(t: AccountedTransfer, count: number, bytes: number, writes: number, readRequests: number, completions: number): void {
    const ep = this.endpointTotals(t.requester);
    this.total += count;
    ep.transactions += count;
    ep.byKind[t.kind as keyof EndpointTotals['byKind']] += bytes;
    if (t.direction === 'read') ep.bytesRead += bytes;
    else ep.bytesWritten += bytes;
    if (t.target && t.target.endpoint !== t.requester) {
      const served = this.endpointTotals(t.target.endpoint);
      if (t.direction === 'read') served.servedReadBytes += bytes;
      else served.servedWriteBytes += bytes;
    }
    for (const c of t.links) {
      const d = this.linkTotals(c.link)[c.direction];
      if (t.direction === 'write') {
        d.bytes += bytes;
        d.tlps += writes;
        d.writeTlps += writes;
        d.wireBytes += bytes + writes * TLP_OVERHEAD_BYTES;
      } else {
        d.tlps += readRequests;
        d.readRequestTlps += readRequests;
        d.wireBytes += readRequests * TLP_OVERHEAD_BYTES;
      }
    }
    for (const c of t.completionLinks) {
      const d = this.linkTotals(c.link)[c.direction];
      d.bytes += bytes;
      d.tlps += completions;
      d.completionTlps += completions;
      d.wireBytes += bytes + completions * TLP_OVERHEAD_BYTES;
    }
  }

  /** Totals of one link (zeros for an idle link). */
  link(link: string): LinkTotals {
    return structuredClone(this.linkTotals(link));
  }

  /** Totals of one endpoint. */
  endpoint(endpoint: string): EndpointTotals {
    return structuredClone(this.endpointTotals(endpoint));
  }

  /** A deep copy of everything. */
  snapshot(): CounterSnapshot {
    return {
      links: [...this.linkCounters.values()].map((l) => structuredClone(l)),
      endpoints: [...this.endpointCounters.values()].map((e) => structuredClone(e)),
      transactions: this.total,
    };
  }

  /** Back to zero (links and endpoints stay listed). */
  reset(): void {
    for (const l of this.linkCounters.values()) {
      l.upstream = emptyDirection();
      l.downstream = emptyDirection();
    }
    for (const e of this.endpointCounters.keys()) this.endpointCounters.set(e, emptyEndpoint(e));
    this.total = 0;
  }
}

/** Sum of both directions' payload bytes. */
export function linkBytes(t: LinkTotals): number {
  return t.upstream.bytes + t.downstream.bytes;
}
