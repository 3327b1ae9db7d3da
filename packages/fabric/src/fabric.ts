/**
 * One PCIe fabric shared by every endpoint served in this process (and by remote endpoints through
 * `remote/`). It holds the topology, learns BAR addresses at run time, routes every bus-master
 * transfer, counts per-link traffic, and publishes events, sampled stats and traces.
 *
 * ```ts
 * const fabric = new Fabric(topology().rootPort('rp0', (rp) => rp.switch('sw0', (sw) => {
 *   sw.downstream('dn0').attach('a');
 *   sw.downstream('dn1').attach('b');
 * })).build());
 * fabric.registerEndpoint('a', { bars: [{ index: 2, size: 64n << 20n, prefetchable: true, backing }] });
 * fabric.setBarAddress('a', 2, 0xf4000000n);          // from config-space BAR writes / CMBMSC
 * const dma = fabric.dmaSpaceFor('a', ctx.dma);         // ctx.dma: the vfio-user server's DmaSpace
 * fabric.stats$(500).subscribe((s) => console.log(renderLinkTable(s.links, fabric.topology)));
 * ```
 */

import type { Writable } from 'node:stream';
import type { DmaRange, DmaSpace } from '@p2pkit/base';
import { type Observable, Subject, share } from 'rxjs';
import { type CounterSnapshot, type EndpointTotals, FabricCounters, type LinkTotals } from './counters/link-counters.ts';
import { type DmaRouting, type DmaSpaceOptions, FabricDmaSpace } from './dma/dma-engine.ts';
import type { TransactionEvent } from './observe/events.ts';
import { type StatsSample, sampledStats } from './observe/stats.ts';
import {
  AddressMap,
  type AddressRange,
  type BarBacking,
  type BarRegistration,
  type BarState,
  type HostMemoryMode,
} from './routing/address-map.ts';
import type { RouteDecision, TransferDirection } from './routing/route.ts';
import { Router } from './routing/router.ts';
import type { TopologyDescription } from './topology/description.ts';
import { qemuServedBars } from './topology/devices.ts';
import { Topology } from './topology/model.ts';
import { TraceWriter } from './trace/trace-writer.ts';

/** Options of a fabric. */
export interface FabricOptions {
  /** See {@link HostMemoryMode}; default `'unclaimed'` (anything no BAR claims is host memory). */
  hostMemory?: HostMemoryMode;
  /** Clock in nanoseconds (default `process.hrtime.bigint`); injectable for tests. */
  clock?: () => bigint;
}

/** How an endpoint joins the fabric. */
export interface EndpointRegistration {
  /** Its memory BARs. Give `backing` for BARs served in this process. */
  bars?: BarRegistration[];
  /**
   * Initial Memory Space Enable and Bus Master Enable. Default true, so a fabric works before
   * config-space writes are wired; set false to follow the guest's Command register exactly.
   */
  enabled?: boolean;
}

/** A registration; dispose to leave the fabric. */
export interface RegisteredEndpoint extends Disposable {
  readonly id: string;
  unregister(): void;
}

/** The fabric. */
export class Fabric implements DmaRouting {
  readonly topology: Topology;
  readonly counters: FabricCounters;
  private readonly addresses: AddressMap;
  private readonly router: Router;
  private readonly clock: () => bigint;
  private readonly t0: bigint;
  private readonly events = new Subject<TransactionEvent>();
  private readonly traces = new Set<TraceWriter>();
  private seq = 0;

  /** Every routed transfer piece (carried out or refused), as it happens. Hot: no replay. */
  readonly transactions$: Observable<TransactionEvent>;

  constructor(topology: TopologyDescription | Topology, options: FabricOptions = {}) {
    this.topology = topology instanceof Topology ? topology : new Topology(topology);
    this.addresses = new AddressMap(this.topology, options.hostMemory ?? 'unclaimed');
    this.router = new Router(this.topology, this.addresses, (ep, bar) => this.barBacking(ep, bar) !== undefined);
    this.counters = new FabricCounters(this.topology);
    this.clock = options.clock ?? process.hrtime.bigint;
    this.t0 = this.clock();
    this.transactions$ = this.events.asObservable().pipe(share());
    // Devices QEMU serves itself (e.g. its nvme's CMB) are peers too: declare their BARs up front.
    for (const node of this.topology.allNodes()) {
      const bars = node.device && qemuServedBars(node.device);
      if (bars) this.registerEndpoint(node.id, { bars });
    }
  }

  /** Nanoseconds since the fabric was created. */
  nowNs(): number {
    return Number(this.clock() - this.t0);
  }

  // ---- endpoints and addresses ------------------------------------------------------------

  /** Registers an endpoint of the topology with its BARs. */
  registerEndpoint(id: string, registration: EndpointRegistration = {}): RegisteredEndpoint {
    this.addresses.register(id, registration.bars ?? [], registration.enabled ?? true);
    const unregister = () => this.addresses.unregister(id);
    return { id, unregister, [Symbol.dispose]: unregister };
  }

  unregisterEndpoint(id: string): void {
    this.addresses.unregister(id);
  }

  isRegistered(id: string): boolean {
    return this.addresses.isRegistered(id);
  }

  /** Where the guest put a BAR (`undefined`: unassigned, e.g. during BAR sizing). */
  setBarAddress(endpoint: string, bar: number, address: bigint | undefined): void {
    this.addresses.setBarAddress(endpoint, bar, address);
  }

  /** Command register Memory Space Enable: off makes the endpoint's BARs refuse traffic (EPERM). */
  setMemorySpaceEnabled(endpoint: string, enabled: boolean): void {
    this.addresses.setMemorySpaceEnabled(endpoint, enabled);
  }

  /** Command register Bus Master Enable: off makes the endpoint's own DMA refuse (EPERM). */
  setBusMasterEnabled(endpoint: string, enabled: boolean): void {
    this.addresses.setBusMasterEnabled(endpoint, enabled);
  }

  /** Sets or clears (undefined) the local backing of a BAR, deciding peer-local vs peer-via-host. */
  setBarBacking(endpoint: string, bar: number, backing: BarBacking | undefined): void {
    this.addresses.bar(endpoint, bar).backing = backing;
  }

  /** The local backing of a BAR, if it is served in this process. */
  barBacking(endpoint: string, bar: number): BarBacking | undefined {
    return this.addresses.findBar(endpoint, bar)?.backing;
  }

  /** What the fabric knows about an endpoint's BARs. */
  bars(endpoint: string): readonly Readonly<BarState>[] {
    return this.addresses.bars(endpoint);
  }

  /** Overrides a port's forwarding windows; `undefined` derives them from the BARs below. */
  setBridgeWindows(port: string, ranges: AddressRange[] | undefined): void {
    this.addresses.setBridgeWindows(port, ranges);
  }

  bridgeWindows(port: string): AddressRange[] {
    return this.addresses.bridgeWindows(port);
  }

  /** Declares guest RAM (wire from DMA_MAP); matters with `hostMemory: 'declared'`. */
  mapHostMemory(address: bigint, size: bigint): void {
    this.addresses.mapHostMemory(address, size);
  }

  /** Removes guest RAM (wire from DMA_UNMAP). */
  unmapHostMemory(address: bigint, size: bigint): void {
    this.addresses.unmapHostMemory(address, size);
  }

  // ---- routing and DMA --------------------------------------------------------------------

  /** Routes the first contiguous piece of a transfer (see `Router.route`). Does not count anything. */
  route(requester: string, address: bigint, length: number, direction: TransferDirection): RouteDecision {
    return this.router.route(requester, address, length, direction);
  }

  /** Routes a whole transfer, split where the target changes. Does not count anything. */
  routeAll(requester: string, address: bigint, length: number, direction: TransferDirection): RouteDecision[] {
    return this.router.routeAll(requester, address, length, direction);
  }

  /**
   * The DmaSpace endpoint `endpointId` should use: routes through the fabric and falls back to
   * `base` (the vfio-user server's DmaSpace: DMA_MAP windows + DMA messages) for guest RAM and for
   * peers served elsewhere.
   */
  dmaSpaceFor(endpointId: string, base: DmaSpace, options?: DmaSpaceOptions): FabricDmaSpace {
    if (this.topology.node(endpointId).kind !== 'endpoint') throw new Error(`'${endpointId}' is not an endpoint`);
    return new FabricDmaSpace(endpointId, base, this, options);
  }

  /** Counts a transfer piece, emits it and appends it to active traces. Used by the DMA engine. */
  record(decision: RouteDecision, via: 'view' | 'copy' | 'refused'): void {
    this.counters.account(decision);
    if (!this.events.observed && this.traces.size === 0) {
      this.seq++;
      return;
    }
    this.emit(decision, via);
  }

  /** Numbers one piece, appends it to active traces and emits it on transactions$. */
  private emit(piece: RouteDecision, via: 'view' | 'copy' | 'refused'): void {
    const event: TransactionEvent = { ...piece, seq: this.seq++, timeNs: this.nowNs(), via };
    for (const t of this.traces) t.write(event);
    this.events.next(event);
  }

  /** See {@link DmaRouting.routeGuestRam}. */
  routeGuestRam(requester: string, ranges: readonly DmaRange[], direction: TransferDirection): RouteDecision | undefined {
    return this.router.routeGuestRam(requester, ranges, direction);
  }

  /** Counts, emits and traces each range as one piece routed like `decision` (see {@link DmaRouting.recordRanges}). */
  recordRanges(decision: RouteDecision, ranges: readonly DmaRange[], via: 'view' | 'copy'): void {
    this.counters.accountRanges(decision, ranges);
    if (!this.events.observed && this.traces.size === 0) {
      this.seq += ranges.length;
      return;
    }
    for (const r of ranges) this.emit({ ...decision, address: r.address, length: r.length }, via);
  }

  // ---- observability ----------------------------------------------------------------------

  /** A copy of all counters now. */
  snapshot(): CounterSnapshot {
    return this.counters.snapshot();
  }

  link(link: string): LinkTotals {
    return this.counters.link(link);
  }

  endpoint(endpoint: string): EndpointTotals {
    return this.counters.endpoint(endpoint);
  }

  resetCounters(): void {
    this.counters.reset();
  }

  /** Live counters, sampled at most every `periodMs` while traffic flows (plus one sample on subscribe). */
  stats$(periodMs = 250): Observable<StatsSample> {
    return sampledStats(
      this.events,
      () => this.snapshot(),
      () => this.nowNs(),
      this.topology,
      periodMs,
    );
  }

  /** Starts recording every transaction to a msgpack trace (file path or stream). Close the writer to stop. */
  startTrace(target: string | Writable): TraceWriter {
    const writer = TraceWriter.open(
      target,
      { startedAt: Date.now(), startNs: this.nowNs(), topology: this.topology.description },
      { onClose: () => this.traces.delete(writer) },
    );
    this.traces.add(writer);
    return writer;
  }

  /** Completes `transactions$` and closes open traces. */
  async close(): Promise<void> {
    this.events.complete();
    await Promise.all([...this.traces].map((t) => t.close()));
  }
}
