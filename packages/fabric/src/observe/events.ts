/** Transaction events: one per routed piece of a transfer, carried out or refused. */
import type { RouteDecision } from '../routing/route.ts';

/** A routed transfer piece as observed by `fabric.transactions$` and recorded in traces. */
export interface TransactionEvent extends RouteDecision {
  /** Sequence number within the fabric, from 0. */
  seq: number;
  /** Nanoseconds since the fabric was created. */
  timeNs: number;
  /** How the data moved: `view` (zero-copy directView), `copy` (read/write), `refused`. */
  via: 'view' | 'copy' | 'refused';
}
