/**
 * Address decoding: which BAR, bridge window or host-memory range claims a bus address.
 *
 * BAR addresses are learned at run time (`setBarAddress`, wired from config-space BAR writes and the
 * NVMe CMBMSC register), as is Memory Space Enable (Command register bit 1, PCI Local Bus 3.0 §6.2.2)
 * and Bus Master Enable (bit 2). Bridge memory windows are derived from the BARs below each port,
 * rounded to the 1 MiB granularity of the Memory Base/Limit registers (PCI-to-PCI Bridge 1.2 §3.2.5.8),
 * unless set explicitly.
 */
import type { Topology } from '../topology/model.ts';

/** Contents of a BAR: a memfd-backed Uint8Array, or MMIO callbacks. Sync or async. */
export interface BarBacking {
  read(offset: bigint, length: number): Uint8Array | Promise<Uint8Array>;
  write(offset: bigint, data: Uint8Array): void | Promise<void>;
  /** The BAR's memory itself when it is plain memory (memfd, ArrayBuffer): the fast path. */
  bytes?: Uint8Array;
}

/** One BAR of an endpoint as registered with the fabric. */
export interface BarRegistration {
  /** BAR index 0..5 (a 64-bit BAR uses its lower index). */
  index: number;
  /** Size in bytes, a power of two ≥ 16 (PCI Local Bus 3.0 §6.2.5.1). */
  size: bigint | number;
  prefetchable?: boolean;
  /** Present when the BAR is served in this process: peers then reach it without QEMU. */
  backing?: BarBacking;
}

/** A registered BAR and what the fabric learned about it. */
export interface BarState {
  endpoint: string;
  index: number;
  size: bigint;
  prefetchable: boolean;
  backing: BarBacking | undefined;
  address: bigint | undefined;
}

/** An address range `[start, end)`. */
export interface AddressRange {
  start: bigint;
  end: bigint;
}

/** What decodes an address. `end` is where this decode stops being valid (exclusive). */
export type Decode =
  | { kind: 'bar'; bar: BarState; offset: bigint; end: bigint; memoryEnabled: boolean }
  | { kind: 'host'; end: bigint }
  | { kind: 'window-hole'; port: string; end: bigint }
  | { kind: 'none'; end: bigint };

/** How addresses that no BAR claims are treated. */
export type HostMemoryMode =
  /** Anything no BAR or bridge window claims goes up to the host (QEMU decides). */
  | 'unclaimed'
  /** Only ranges given to `mapHostMemory` are guest RAM; anything else is unmapped. */
  | 'declared';

const MAX_ADDRESS = 1n << 64n;
const WINDOW_GRANULE = 1n << 20n;

interface EndpointState {
  bars: Map<number, BarState>;
  memoryEnabled: boolean;
  busMaster: boolean;
}

/** BARs, enables, bridge windows and host memory of one fabric. */
export class AddressMap {
  private readonly endpoints = new Map<string, EndpointState>();
  private readonly explicitWindows = new Map<string, AddressRange[] | undefined>();
  private readonly hostRanges: AddressRange[] = [];
  private sorted: BarState[] | undefined;
  private windows: Map<string, AddressRange[]> | undefined;
  /**
   * The last host-memory decode and the addresses it holds for: every address in [from, decode.end)
   * decodes the same (no BAR or window starts inside, one host range covers it). Most DMA is guest
   * RAM, so most decodes skip the scan of every BAR and window.
   */
  private hostSpan: { from: bigint; decode: Decode } | undefined;

  constructor(
    private readonly topology: Topology,
    readonly hostMemoryMode: HostMemoryMode = 'unclaimed',
  ) {}

  /** Registers an endpoint's BARs. Memory space and bus mastering start enabled unless told otherwise. */
  register(endpoint: string, bars: BarRegistration[], enabled = true): void {
    const node = this.topology.node(endpoint);
    if (node.kind !== 'endpoint') throw new Error(`'${endpoint}' is a ${node.kind}, not an endpoint`);
    if (this.endpoints.has(endpoint)) throw new Error(`endpoint '${endpoint}' is already registered`);
    const map = new Map<number, BarState>();
    for (const b of bars) {
      const size = BigInt(b.size);
      if (!Number.isInteger(b.index) || b.index < 0 || b.index > 5) throw new RangeError(`${endpoint}: BAR index ${b.index} out of 0..5`);
      if (size < 16n || (size & (size - 1n)) !== 0n)
        throw new RangeError(`${endpoint} BAR${b.index}: size ${size} is not a power of two ≥ 16`);
      if (map.has(b.index)) throw new Error(`${endpoint}: BAR${b.index} registered twice`);
      map.set(b.index, { endpoint, index: b.index, size, prefetchable: b.prefetchable ?? false, backing: b.backing, address: undefined });
    }
    this.endpoints.set(endpoint, { bars: map, memoryEnabled: enabled, busMaster: enabled });
    this.invalidate();
  }

  unregister(endpoint: string): void {
    this.endpoints.delete(endpoint);
    this.invalidate();
  }

  isRegistered(endpoint: string): boolean {
    return this.endpoints.has(endpoint);
  }

  private state(endpoint: string): EndpointState {
    const s = this.endpoints.get(endpoint);
    if (!s) throw new Error(`endpoint '${endpoint}' is not registered with the fabric`);
    return s;
  }

  /** The BAR's state; throws if not registered. */
  bar(endpoint: string, index: number): BarState {
    const b = this.state(endpoint).bars.get(index);
    if (!b) throw new Error(`${endpoint} has no BAR${index}`);
    return b;
  }

  /** The BAR's state, or undefined if the endpoint or BAR is not registered. */
  findBar(endpoint: string, index: number): BarState | undefined {
    return this.endpoints.get(endpoint)?.bars.get(index);
  }

  bars(endpoint: string): BarState[] {
    return [...this.state(endpoint).bars.values()];
  }

  /** Sets (or with `undefined` clears) the bus address of a BAR. Must be aligned to its size. */
  setBarAddress(endpoint: string, index: number, address: bigint | undefined): void {
    const bar = this.bar(endpoint, index);
    if (address !== undefined) {
      if (address < 0n || address + bar.size > MAX_ADDRESS)
        throw new RangeError(`${endpoint} BAR${index}: address 0x${address.toString(16)} out of range`);
      if (address % bar.size !== 0n)
        throw new RangeError(`${endpoint} BAR${index}: address 0x${address.toString(16)} not aligned to size 0x${bar.size.toString(16)}`);
    }
    bar.address = address;
    this.invalidate();
  }

  setMemorySpaceEnabled(endpoint: string, enabled: boolean): void {
    this.state(endpoint).memoryEnabled = enabled;
  }

  isMemorySpaceEnabled(endpoint: string): boolean {
    return this.state(endpoint).memoryEnabled;
  }

  setBusMasterEnabled(endpoint: string, enabled: boolean): void {
    this.state(endpoint).busMaster = enabled;
  }

  isBusMasterEnabled(endpoint: string): boolean {
    return this.state(endpoint).busMaster;
  }

  /** Overrides a port's forwarding windows (`undefined` returns to derived windows). */
  setBridgeWindows(port: string, ranges: AddressRange[] | undefined): void {
    const kind = this.topology.node(port).kind;
    if (kind !== 'root-port' && kind !== 'switch-downstream') throw new Error(`'${port}' is not a downstream-facing port`);
    if (ranges === undefined) this.explicitWindows.delete(port);
    else
      this.explicitWindows.set(
        port,
        ranges.map((r) => ({ ...r })),
      );
    this.windows = undefined;
    this.hostSpan = undefined;
  }

  /** Forwarding windows of a root port or downstream port (explicit or derived from BARs below). */
  bridgeWindows(port: string): AddressRange[] {
    this.windows ??= this.deriveWindows();
    return this.windows.get(port) ?? [];
  }

  /** Declares guest RAM (wire from DMA_MAP). Overlapping or adjacent ranges are merged. */
  mapHostMemory(address: bigint, size: bigint): void {
    const merged = [...this.hostRanges, { start: address, end: address + size }].sort((a, b) =>
      a.start < b.start ? -1 : a.start > b.start ? 1 : 0,
    );
    const out: AddressRange[] = [];
    for (const r of merged) {
      const last = out[out.length - 1];
      if (last && r.start <= last.end) last.end = r.end > last.end ? r.end : last.end;
      else out.push({ ...r });
    }
    this.hostRanges.splice(0, this.hostRanges.length, ...out);
    this.hostSpan = undefined;
  }

  /** Removes guest RAM (wire from DMA_UNMAP). */
  unmapHostMemory(address: bigint, size: bigint): void {
    const end = address + size;
    const out: AddressRange[] = [];
    for (const r of this.hostRanges) {
      if (r.end <= address || r.start >= end) out.push(r);
      else {
        if (r.start < address) out.push({ start: r.start, end: address });
        if (r.end > end) out.push({ start: end, end: r.end });
      }
    }
    this.hostRanges.splice(0, this.hostRanges.length, ...out);
    this.hostSpan = undefined;
  }

  hostMemory(): readonly AddressRange[] {
    return this.hostRanges;
  }

  /** Decodes one address. */
  decode(address: bigint): Decode {
    if (address < 0n || address >= MAX_ADDRESS) return { kind: 'none', end: MAX_ADDRESS };
    const span = this.hostSpan;
    if (span && address >= span.from && address < span.decode.end) return span.decode;
    return this.scan(address);
  }

  private scan(address: bigint): Decode {
    this.sorted ??= this.sortBars();
    let nextStart = MAX_ADDRESS;
    for (const bar of this.sorted) {
      const start = bar.address as bigint;
      const end = start + bar.size;
      if (address >= start && address < end) {
        const memoryEnabled = this.state(bar.endpoint).memoryEnabled;
        return { kind: 'bar', bar, offset: address - start, end, memoryEnabled };
      }
      if (start > address && start < nextStart) nextStart = start;
    }
    // Not in a BAR: a hole in some bridge window is an Unsupported Request below that bridge.
    this.windows ??= this.deriveWindows();
    for (const [port, ranges] of this.windows) {
      for (const r of ranges) {
        if (address >= r.start && address < r.end) return { kind: 'window-hole', port, end: r.end < nextStart ? r.end : nextStart };
        if (r.start > address && r.start < nextStart) nextStart = r.start;
      }
    }
    for (const r of this.hostRanges) {
      if (address >= r.start && address < r.end) return this.hostDecode(address, r.end < nextStart ? r.end : nextStart);
      if (r.start > address && r.start < nextStart && this.hostMemoryMode === 'declared') nextStart = r.start;
    }
    if (this.hostMemoryMode !== 'unclaimed') return { kind: 'none', end: nextStart };
    // Unclaimed memory is host memory; with no declared ranges the same holds up to nextStart.
    return this.hostRanges.length === 0 ? this.hostDecode(address, nextStart) : { kind: 'host', end: nextStart };
  }

  /** A host decode valid for [address, end), remembered in hostSpan. */
  private hostDecode(address: bigint, end: bigint): Decode {
    const span = this.hostSpan;
    if (span && span.decode.end === end && address < span.from) span.from = address;
    else this.hostSpan = { from: address, decode: Object.freeze({ kind: 'host', end }) };
    return (this.hostSpan as { decode: Decode }).decode;
  }

  private invalidate(): void {
    this.sorted = undefined;
    this.windows = undefined;
    this.hostSpan = undefined;
  }

  private sortBars(): BarState[] {
    const all: BarState[] = [];
    for (const s of this.endpoints.values()) for (const b of s.bars.values()) if (b.address !== undefined) all.push(b);
    return all.sort((a, b) => ((a.address as bigint) < (b.address as bigint) ? -1 : 1));
  }

  private deriveWindows(): Map<string, AddressRange[]> {
    const out = new Map<string, AddressRange[]>();
    for (const node of this.topology.allNodes()) {
      if (node.kind !== 'root-port' && node.kind !== 'switch-downstream') continue;
      if (this.explicitWindows.has(node.id)) {
        out.set(node.id, this.explicitWindows.get(node.id) ?? []);
        continue;
      }
      // One window for non-prefetchable and one for prefetchable BARs, like a real bridge.
      const spans: Record<'np' | 'p', AddressRange | undefined> = { np: undefined, p: undefined };
      for (const [endpoint, s] of this.endpoints) {
        if (!this.topology.isBelow(endpoint, node.id)) continue;
        for (const b of s.bars.values()) {
          if (b.address === undefined) continue;
          const key = b.prefetchable ? 'p' : 'np';
          const start = (b.address / WINDOW_GRANULE) * WINDOW_GRANULE;
          const end = ((b.address + b.size + WINDOW_GRANULE - 1n) / WINDOW_GRANULE) * WINDOW_GRANULE;
          const cur = spans[key];
          spans[key] = cur ? { start: cur.start < start ? cur.start : start, end: cur.end > end ? cur.end : end } : { start, end };
        }
      }
      const ranges = [spans.np, spans.p].filter((r): r is AddressRange => r !== undefined);
      if (ranges.length > 0) out.set(node.id, ranges);
    }
    return out;
  }
}
