/**
 * A NIC stub's per-instance state and its link: cabled back to back to another NIC ({@link cable})
 * or to a host-side backend (`socketBackend`). Whatever is at the other end receives the frames the
 * NIC transmits; frames arriving from it are queued for the RX ring.
 */
import type { EndpointHandle } from '@p2pkit/pci';
import { bump, NicReg } from './nic-regs.ts';

/** The other end of a NIC's link. */
export interface NicLinkEnd {
  /** Carries one transmitted frame away (the NIC has already read it from its TX buffer). */
  send(frame: Uint8Array): void;
  /** The link was taken down at the NIC's side: tell the other end. */
  unplugged(): void;
}

export interface NicState {
  readonly dev: EndpointHandle;
  readonly mac: Uint8Array;
  regs: DataView;
  link: NicLinkEnd | undefined;
  generation: number;
  txBusy: boolean;
  rxBusy: boolean;
  rxQueue: Uint8Array[];
  /** Starts placing queued frames (the RX engine). */
  receive(): void;
}

/** Frames waiting for RX buffers beyond this are dropped (counted by the caller). */
const MAX_QUEUED_FRAMES = 1024;

const nics = new WeakMap<EndpointHandle, NicState>();

export function registerNic(s: NicState): void {
  nics.set(s.dev, s);
}

/** Something holding a NIC instance: a `NicDevice`, its `Endpoint`, a `FabricEndpoint`, or the handle itself. */
export type NicRef = EndpointHandle | { handle: EndpointHandle } | { endpoint: { handle: EndpointHandle } };

export function stateOf(ref: NicRef): NicState {
  const dev = 'endpoint' in ref ? ref.endpoint.handle : 'handle' in ref ? ref.handle : ref;
  const s = nics.get(dev);
  if (!s) throw new TypeError('not a NIC instance (create it with createNic())');
  return s;
}

/** Queues a frame that arrived on the wire for the RX ring (dropped, and counted, when the queue is full). */
export function deliver(s: NicState, frame: Uint8Array): void {
  if (s.rxQueue.length >= MAX_QUEUED_FRAMES) return bump(s.regs, NicReg.RX_DROPPED);
  s.rxQueue.push(frame);
  s.receive();
}

/** Connects `s` to `end` (taking down any earlier link); LINK goes up. */
export function plug(s: NicState, end: NicLinkEnd): void {
  unplug(s);
  s.link = end;
  s.regs.setUint32(NicReg.LINK, 1, true);
}

/** Takes the link of `s` down, and tells the other end. */
export function unplug(s: NicState): void {
  const end = s.link;
  if (!end) return;
  s.link = undefined;
  s.regs.setUint32(NicReg.LINK, 0, true);
  end.unplugged();
}

/** Cables two NIC instances back to back (replacing earlier links); returns the unplug function. */
export function cable(a: NicRef, b: NicRef): () => void {
  const [sa, sb] = [stateOf(a), stateOf(b)];
  const toB: NicLinkEnd = { send: (f) => deliver(sb, f), unplugged: () => unplug(sb) };
  const toA: NicLinkEnd = { send: (f) => deliver(sa, f), unplugged: () => unplug(sa) };
  plug(sa, toB);
  plug(sb, toA);
  return () => {
    if (sa.link === toB) unplug(sa);
  };
}
