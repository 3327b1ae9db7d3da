/**
 * @p2pkit/fabric/internal: the frame codec, routing tables, remote-endpoint RPC and trace packing
 * behind `@p2pkit/fabric`, for p2pkit's own tests, tools and fuzzers. Not a stable API.
 */
export { decodePayload, encodeFrame, FrameDecoder, FrameError, MAX_FRAME_BYTES } from './codec/frames.ts';
export { emptyDirection } from './counters/index.ts';
export { checkRange } from './dma/index.ts';
export {
  type BarAddressParams,
  type BarReadParams,
  type BarWriteParams,
  type DoneParams,
  type EnableParams,
  type HelloParams,
  type PeerReadParams,
  type PeerWriteParams,
  PROTOCOL_VERSION,
  type RemoteBar,
  RemoteDmaSpace,
  type RemotePiece,
  type RouteParams,
  type RouteResult,
  RpcClosedError,
  type RpcHandler,
  RpcPeer,
} from './remote/index.ts';
export {
  AddressMap,
  type AddressRange,
  type BarState,
  type Decode,
  describeCrossings,
  isRefused,
  Router,
  type RouteTarget,
  type TargetKind,
} from './routing/index.ts';
export {
  type PackedCrossing,
  packCrossings,
  packDirection,
  readTraceRecords,
  TRACE_MAGIC,
  TRACE_VERSION,
  toTraceRecord,
  unpackCrossings,
  unpackDirection,
} from './trace/index.ts';
