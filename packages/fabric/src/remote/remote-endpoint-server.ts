/**
 * The fabric side of a remote endpoint: registers it with the fabric, routes its DMA, serves its
 * peer accesses, and makes its BARs reachable by other endpoints through a proxy backing.
 */
import { DmaError, type DmaSpace, Errno, hex } from '@p2pkit/base';
import type { FabricDmaSpace } from '../dma/dma-engine.ts';
import type { Fabric } from '../fabric.ts';
import type { BarBacking } from '../routing/address-map.ts';

import { isRefused, type RouteDecision } from '../routing/route.ts';
import type { FrameChannel } from './frame-channel.ts';
import {
  type BarAddressParams,
  type BarReadParams,
  type BarWriteParams,
  type DoneParams,
  type EnableParams,
  type HelloParams,
  type PeerReadParams,
  type PeerWriteParams,
  PROTOCOL_VERSION,
  type RouteParams,
  type RouteResult,
} from './protocol.ts';
import { RpcPeer } from './rpc.ts';

/** Peer pieces never fall back to a base: if one does, the route changed between `route` and now. */
const NO_BASE: DmaSpace = {
  read: (address, length) => Promise.reject(new DmaError(`route of ${hex(address)} changed; retry`, address, length, Errno.EIO)),
  write: (address, data) => Promise.reject(new DmaError(`route of ${hex(address)} changed; retry`, address, data.length, Errno.EIO)),
  directView: () => undefined,
};

/** Serves one remote endpoint. Created per channel; ends when the channel closes. */
export class RemoteEndpointServer {
  /** The RPC connection; applications may add their own methods (avoid the protocol's names). */
  readonly rpc: RpcPeer;
  private endpoint: string | undefined;
  private dma: FabricDmaSpace | undefined;
  private nextToken = 1;
  private readonly routed = new Map<number, RouteDecision[]>();
  /** Resolves with the endpoint id once the remote side said hello. */
  readonly ready: Promise<string>;
  /** Resolves when the channel is closed (the endpoint is unregistered by then). */
  readonly closed: Promise<void>;

  constructor(
    private readonly fabric: Fabric,
    channel: FrameChannel,
  ) {
    this.rpc = new RpcPeer(channel);
    let ready!: (id: string) => void;
    this.ready = new Promise((resolve) => {
      ready = resolve;
    });
    this.closed = new Promise((resolve) => {
      channel.onClose(() => {
        if (this.endpoint !== undefined && fabric.isRegistered(this.endpoint)) fabric.unregisterEndpoint(this.endpoint);
        this.routed.clear();
        resolve();
      });
    });
    this.rpc.handle<HelloParams>('hello', (p) => {
      this.hello(p);
      ready(p.endpoint);
      return { version: PROTOCOL_VERSION };
    });
    this.rpc.handle<RouteParams>('route', (p) => this.route(p));
    this.rpc.handle<PeerReadParams>('peer.read', (p) => this.requireDma().read(p.address, p.length));
    this.rpc.handle<PeerWriteParams>('peer.write', (p) => this.requireDma().write(p.address, p.data));
    this.rpc.onNotify<DoneParams>('done', (p) => this.done(p));
    this.rpc.onNotify<BarAddressParams>('bar.address', (p) => fabric.setBarAddress(this.requireEndpoint(), p.bar, p.address ?? undefined));
    this.rpc.onNotify<EnableParams>('memory.enable', (p) => fabric.setMemorySpaceEnabled(this.requireEndpoint(), p.enabled));
    this.rpc.onNotify<EnableParams>('busmaster.enable', (p) => fabric.setBusMasterEnabled(this.requireEndpoint(), p.enabled));
  }

  /** Endpoint id, once known. */
  get endpointId(): string | undefined {
    return this.endpoint;
  }

  close(): void {
    this.rpc.close();
  }

  private hello(p: HelloParams): void {
    if (p.version !== PROTOCOL_VERSION) throw new Error(`remote endpoint speaks protocol ${p.version}, fabric ${PROTOCOL_VERSION}`);
    if (this.endpoint !== undefined) throw new Error(`already serving ${this.endpoint}`);
    this.fabric.registerEndpoint(p.endpoint, {
      enabled: p.enabled,
      bars: p.bars.map((b) => ({
        index: b.index,
        size: b.size,
        prefetchable: b.prefetchable,
        backing: b.served ? this.proxyBacking(b.index) : undefined,
      })),
    });
    this.endpoint = p.endpoint;
    this.dma = this.fabric.dmaSpaceFor(p.endpoint, NO_BASE);
  }

  private proxyBacking(bar: number): BarBacking {
    return {
      read: (offset, length) => this.rpc.request<Uint8Array>('bar.read', { bar, offset, length } satisfies BarReadParams),
      write: async (offset, data) => {
        await this.rpc.request('bar.write', { bar, offset, data } satisfies BarWriteParams);
      },
    };
  }

  private route(p: RouteParams): RouteResult {
    const endpoint = this.requireEndpoint();
    const decisions: RouteDecision[] = [];
    for (const e of p.sg) decisions.push(...this.fabric.routeAll(endpoint, e.address, e.length, p.direction));
    const bad = decisions.find(isRefused);
    if (bad) {
      this.fabric.record(bad, 'refused');
      throw new DmaError(
        `${endpoint}: DMA ${p.direction} at ${hex(bad.address)} refused: ${bad.reason}`,
        bad.address,
        bad.length,
        bad.errno ?? Errno.EFAULT,
      );
    }
    const token = this.nextToken++;
    // Peer-local pieces are counted when peer.read/peer.write performs them.
    const remoteServed = decisions.filter((d) => d.kind !== 'peer-local');
    if (remoteServed.length > 0) this.routed.set(token, remoteServed);
    return { token, pieces: decisions.map((d) => ({ kind: d.kind, address: d.address, length: d.length })) };
  }

  private done(p: DoneParams): void {
    const decisions = this.routed.get(p.token);
    this.routed.delete(p.token);
    for (const d of decisions ?? []) this.fabric.record(d, 'copy');
  }

  private requireEndpoint(): string {
    if (this.endpoint === undefined) throw new Error('remote endpoint has not said hello');
    return this.endpoint;
  }

  private requireDma(): FabricDmaSpace {
    if (!this.dma) throw new Error('remote endpoint has not said hello');
    return this.dma;
  }
}

/** Serves a remote endpoint on `channel`; resolves once it has registered. */
export async function serveRemoteEndpoint(fabric: Fabric, channel: FrameChannel): Promise<RemoteEndpointServer> {
  const server = new RemoteEndpointServer(fabric, channel);
  await server.ready;
  return server;
}
