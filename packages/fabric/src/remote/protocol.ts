/**
 * Messages between a remote endpoint (worker thread or child process) and the fabric process.
 *
 * Endpoint → fabric requests: `hello`, `route`, `peer.read`, `peer.write`.
 * Endpoint → fabric notifications: `done`, `bar.address`, `memory.enable`, `busmaster.enable`.
 * Fabric → endpoint requests: `bar.read`, `bar.write` (peers reaching the endpoint's BARs).
 *
 * A DMA from the endpoint is routed by the fabric (`route`); guest-RAM and via-host pieces are then
 * served by the endpoint's own vfio-user DmaSpace (its DMA_MAP windows live in its process), peer
 * pieces by the fabric (`peer.read`/`peer.write`), and `done` lets the fabric count the pieces it did
 * not serve itself.
 */
import type { TargetKind, TransferDirection } from '../routing/route.ts';

export const PROTOCOL_VERSION = 1;

export interface HelloParams {
  version: number;
  endpoint: string;
  bars: { index: number; size: bigint; prefetchable: boolean; served: boolean }[];
  enabled: boolean;
}

export interface RouteParams {
  direction: TransferDirection;
  sg: { address: bigint; length: number }[];
}

/** One routed piece as the endpoint needs it. */
export interface RemotePiece {
  kind: TargetKind;
  address: bigint;
  length: number;
}

export interface RouteResult {
  /** Identifies the routing for `done`. */
  token: number;
  pieces: RemotePiece[];
}

export interface PeerReadParams {
  address: bigint;
  length: number;
}

export interface PeerWriteParams {
  address: bigint;
  data: Uint8Array;
}

export interface DoneParams {
  token: number;
}

export interface BarAddressParams {
  bar: number;
  /** null clears. */
  address: bigint | null;
}

export interface EnableParams {
  enabled: boolean;
}

export interface BarReadParams {
  bar: number;
  offset: bigint;
  length: number;
}

export interface BarWriteParams {
  bar: number;
  offset: bigint;
  data: Uint8Array;
}
