/**
 * The endpoint side of a remote endpoint, used inside a worker thread or child process.
 *
 * ```ts
 * const client = new RemoteEndpointClient(portChannel(parentPort!), { endpoint: 'nvme1', bars: [{ index: 2, size: mib(64), backing }] });
 * await client.connect();
 * const dma = client.dmaSpace(ctx.dma);   // ctx.dma: this process's vfio-user DmaSpace
 * client.setBarAddress(2, 0xf8000000n);    // from config writes / CMBMSC
 * ```
 */
import { DmaError, type DmaRange, type DmaSpace, Errno } from '@p2pkit/base';
import { checkRange, sgTotal } from '../dma/scatter-gather.ts';
import type { BarBacking } from '../routing/address-map.ts';

import type { TransferDirection } from '../routing/route.ts';
import type { FrameChannel } from './frame-channel.ts';
import {
  type BarReadParams,
  type BarWriteParams,
  type HelloParams,
  PROTOCOL_VERSION,
  type RemotePiece,
  type RouteResult,
} from './protocol.ts';
import { RpcPeer } from './rpc.ts';

/** A BAR of a remote endpoint. Give `backing` if peers may reach it through the fabric. */
export interface RemoteBar {
  index: number;
  size: bigint | number;
  prefetchable?: boolean;
  backing?: BarBacking;
}

export interface RemoteEndpointOptions {
  /** Endpoint id in the fabric's topology. */
  endpoint: string;
  bars?: RemoteBar[];
  /** Initial Memory Space / Bus Master Enable (default true). */
  enabled?: boolean;
}

/** Connects one endpoint to a fabric in another thread or process. */
export class RemoteEndpointClient {
  /** The RPC connection; applications may add their own methods (avoid the protocol's names). */
  readonly rpc: RpcPeer;
  private readonly backings = new Map<number, BarBacking>();

  constructor(
    channel: FrameChannel,
    private readonly options: RemoteEndpointOptions,
  ) {
    this.rpc = new RpcPeer(channel);
    for (const b of options.bars ?? []) if (b.backing) this.backings.set(b.index, b.backing);
    this.rpc.handle<BarReadParams>('bar.read', (p) => this.backing(p.bar).read(p.offset, p.length));
    this.rpc.handle<BarWriteParams>('bar.write', async (p) => {
      await this.backing(p.bar).write(p.offset, p.data);
    });
  }

  get endpoint(): string {
    return this.options.endpoint;
  }

  /** Registers with the fabric. */
  async connect(): Promise<void> {
    await this.rpc.request('hello', {
      version: PROTOCOL_VERSION,
      endpoint: this.options.endpoint,
      enabled: this.options.enabled ?? true,
      bars: (this.options.bars ?? []).map((b) => ({
        index: b.index,
        size: BigInt(b.size),
        prefetchable: b.prefetchable ?? false,
        served: b.backing !== undefined,
      })),
    } satisfies HelloParams);
  }

  /** Reports a BAR address learned from config space or CMBMSC. */
  setBarAddress(bar: number, address: bigint | undefined): void {
    this.rpc.notify('bar.address', { bar, address: address ?? null });
  }

  setMemorySpaceEnabled(enabled: boolean): void {
    this.rpc.notify('memory.enable', { enabled });
  }

  setBusMasterEnabled(enabled: boolean): void {
    this.rpc.notify('busmaster.enable', { enabled });
  }

  /** The DmaSpace this endpoint should use; `base` is its own vfio-user DmaSpace. */
  dmaSpace(base: DmaSpace): RemoteDmaSpace {
    return new RemoteDmaSpace(this.rpc, base);
  }

  close(): void {
    this.rpc.close();
  }

  private backing(bar: number): BarBacking {
    const b = this.backings.get(bar);
    if (!b) throw new DmaError(`${this.options.endpoint} serves no BAR${bar}`, 0n, 0, Errno.EFAULT);
    return b;
  }
}

/** DmaSpace of a remote endpoint: routed by the fabric, guest RAM served locally. */
export class RemoteDmaSpace implements DmaSpace {
  /** @internal */
  constructor(
    private readonly rpc: RpcPeer,
    private readonly base: DmaSpace,
  ) {}

  async read(address: bigint, length: number): Promise<Uint8Array> {
    return this.readv([{ address, length }]);
  }

  async write(address: bigint, data: Uint8Array): Promise<void> {
    return this.writev([{ address, length: data.length }], data);
  }

  /** Always `undefined`: the route is only known after a round trip. Use read/write. */
  directView(): Uint8Array | undefined {
    return undefined;
  }

  /** Gathers a scatter-gather list. */
  async readv(sg: readonly DmaRange[]): Promise<Uint8Array> {
    const total = sgTotal(sg);
    const routed = await this.route('read', sg);
    const out = new Uint8Array(total);
    let at = 0;
    for (const p of routed.pieces) {
      let data: Uint8Array;
      if (p.kind === 'peer-local') data = await this.rpc.request<Uint8Array>('peer.read', { address: p.address, length: p.length });
      else data = this.viewCopy(p) ?? (await this.base.read(p.address, p.length));
      out.set(data, at);
      at += p.length;
    }
    this.rpc.notify('done', { token: routed.token });
    return out;
  }

  /** Scatters `data` over a list. */
  async writev(sg: readonly DmaRange[], data: Uint8Array): Promise<void> {
    const total = sgTotal(sg);
    if (total !== data.length)
      throw new DmaError(
        `scatter-gather list covers ${total} bytes but ${data.length} were given`,
        sg[0]?.address ?? 0n,
        data.length,
        Errno.EINVAL,
      );
    const routed = await this.route('write', sg);
    let at = 0;
    for (const p of routed.pieces) {
      const chunk = data.subarray(at, at + p.length);
      if (p.kind === 'peer-local') await this.rpc.request('peer.write', { address: p.address, data: chunk });
      else {
        const view = p.kind === 'guest-ram' ? this.base.directView(p.address, p.length, true) : undefined;
        if (view) view.set(chunk);
        else await this.base.write(p.address, chunk);
      }
      at += p.length;
    }
    this.rpc.notify('done', { token: routed.token });
  }

  /** Copies `length` bytes from `src` to `dst` in chunks of `chunkSize` (default 1 MiB). */
  async copy(src: bigint, dst: bigint, length: number, chunkSize = 1 << 20): Promise<void> {
    checkRange(src, length);
    checkRange(dst, length);
    for (let done = 0; done < length; ) {
      const n = Math.min(chunkSize, length - done);
      await this.write(dst + BigInt(done), await this.read(src + BigInt(done), n));
      done += n;
    }
  }

  private route(direction: TransferDirection, sg: readonly DmaRange[]): Promise<RouteResult> {
    return this.rpc.request<RouteResult>('route', { direction, sg: sg.map((e) => ({ address: e.address, length: e.length })) });
  }

  private viewCopy(p: RemotePiece): Uint8Array | undefined {
    return p.kind === 'guest-ram' ? this.base.directView(p.address, p.length, false)?.slice() : undefined;
  }
}
