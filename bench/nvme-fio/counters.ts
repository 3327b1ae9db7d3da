/**
 * Server-side counters of p2pkit devices per measured run: how many MMIO doorbells, shadow-doorbell
 * hits, polls, interrupts and vfio-user messages each I/O command cost, and how long it stayed in the
 * controller.
 */
import type { NvmeDevice } from '@p2pkit/nvme';
import type { Rig } from '@p2pkit/testbed';

/** Counter values (a snapshot, or the difference of two). */
export interface Counters {
  ioCommands: number;
  doorbellWrites: number;
  shadowDoorbellHits: number;
  shadowPolls: number;
  shadowPollStops: number;
  completionsPosted: number;
  interruptsRaised: number;
  /** Time I/O commands spent in the controller, fetch to completion entry, summed (µs). */
  ioHeldMicros: number;
  /** vfio-user messages the server handled, by command name. */
  messages: Record<string, number>;
}

const NUMERIC = [
  'ioCommands',
  'doorbellWrites',
  'shadowDoorbellHits',
  'shadowPolls',
  'shadowPollStops',
  'completionsPosted',
  'interruptsRaised',
  'ioHeldMicros',
] as const;

export const emptyCounters = (): Counters => ({
  ioCommands: 0,
  doorbellWrites: 0,
  shadowDoorbellHits: 0,
  shadowPolls: 0,
  shadowPollStops: 0,
  completionsPosted: 0,
  interruptsRaised: 0,
  ioHeldMicros: 0,
  messages: {},
});

/** The counters of one served p2pkit device now. */
export function snapshot(rig: Rig, id: string, device: NvmeDevice): Counters {
  const s = device.controller.stats;
  return {
    ioCommands: Object.values(s.ioCommands).reduce((a, b) => a + b, 0),
    doorbellWrites: s.doorbellWrites,
    shadowDoorbellHits: s.shadowDoorbellHits,
    shadowPolls: s.shadowPolls,
    shadowPollStops: s.shadowPollStops,
    completionsPosted: s.completionsPosted,
    interruptsRaised: s.interruptsRaised,
    ioHeldMicros: s.ioHeldMicros,
    messages: Object.fromEntries(rig.servers.get(id)?.session?.stats ?? []),
  };
}

/** `into += sign × c`, counter by counter (messages that end at zero are dropped). */
export function accumulate(into: Counters, c: Counters, sign: 1 | -1 = 1): Counters {
  for (const k of NUMERIC) into[k] += sign * c[k];
  for (const [k, v] of Object.entries(c.messages)) {
    const n = (into.messages[k] ?? 0) + sign * v;
    if (n === 0) delete into.messages[k];
    else into.messages[k] = n;
  }
  return into;
}

/** `after − before`. */
export const difference = (before: Counters, after: Counters): Counters => accumulate(accumulate(emptyCounters(), after), before, -1);

/** Total vfio-user messages. */
export const messageCount = (c: Counters): number => Object.values(c.messages).reduce((a, b) => a + b, 0);
