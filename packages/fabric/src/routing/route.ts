/** The result of routing one transfer through the fabric. */

/** Where a transfer ends up. */
export type TargetKind =
  /** Host memory: goes up every link to the host bridge; served by the base DmaSpace (mmapped DMA_MAP windows). */
  | 'guest-ram'
  /** A BAR served in this process (own BAR or a co-hosted peer): served from its backing, no QEMU round trip. */
  | 'peer-local'
  /** A BAR of a device this process does not serve: QEMU routes it (server→client DMA_READ/DMA_WRITE). */
  | 'peer-via-host'
  /** Nothing claims the address (Unsupported Request). Refused with EFAULT. */
  | 'unmapped'
  /** Claimed by a BAR whose Memory Space is disabled, or the requester may not master. Refused with EPERM. */
  | 'disabled';

/** Direction of the data from the requester's point of view. */
export type TransferDirection = 'read' | 'write';

/** Which way a TLP crosses a link. */
export type LinkDirection = 'upstream' | 'downstream';

/** One link crossing. */
export interface LinkCrossing {
  readonly link: string;
  readonly direction: LinkDirection;
}

/** A BAR hit. */
export interface RouteTarget {
  endpoint: string;
  bar: number;
  /** Offset inside the BAR. */
  offset: bigint;
}

/**
 * The route of one contiguous piece of a transfer (a transfer that spans several targets is split
 * into several decisions, see `Router.routeAll`).
 */
export interface RouteDecision {
  kind: TargetKind;
  requester: string;
  direction: TransferDirection;
  address: bigint;
  /** Bytes covered by this decision (may be less than asked when the transfer spans targets). */
  length: number;
  target?: RouteTarget;
  /** Links crossed by the request TLPs (memory writes carry the data; memory reads carry none). */
  links: readonly LinkCrossing[];
  /** Links crossed by completions (reads only); may differ from the reverse of `links` under ACS CR. */
  completionLinks: readonly LinkCrossing[];
  /** Nodes the request visits, requester first. Empty for refused transfers. */
  path: readonly string[];
  /** Why this route, in one sentence. */
  reason: string;
  /** For refused kinds: the errno a DmaError carries (EFAULT unmapped, EPERM disabled). */
  errno?: number;
  /** Max payload per TLP on this path (smallest MPS along it). */
  mps: number;
  /** The requester's Max_Read_Request_Size. */
  mrrs: number;
}

/** Whether the decision refuses the transfer. */
export function isRefused(d: RouteDecision): boolean {
  return d.kind === 'unmapped' || d.kind === 'disabled';
}

/** `dn0↑ rp0↑ rp0↓ dn1↓` */
export function describeCrossings(links: readonly LinkCrossing[]): string {
  return links.length === 0 ? '(no link)' : links.map((l) => `${l.link}${l.direction === 'upstream' ? '↑' : '↓'}`).join(' ');
}
