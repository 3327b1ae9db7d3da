/**
 * Sampled live counters: a snapshot at most every `periodMs` while transactions happen (leading and
 * trailing edge, so the last state is always delivered), with per-link rates since the previous sample.
 */
import { asyncScheduler, defer, map, type Observable, startWith, throttleTime } from 'rxjs';
import type { CounterSnapshot } from '../counters/link-counters.ts';
import type { Topology } from '../topology/model.ts';

/** Rates of one link between two samples. */
export interface LinkRate {
  link: string;
  upstreamBytesPerSecond: number;
  downstreamBytesPerSecond: number;
  /** Busier direction's rate over the link's usable bandwidth (0..1, can exceed 1 in a simulation). */
  utilization: number;
}

/** One sample of `stats$`. */
export interface StatsSample extends CounterSnapshot {
  /** Nanoseconds since the fabric was created. */
  timeNs: number;
  /** Rates since the previous sample of the same subscription (zero for the first). */
  rates: LinkRate[];
}

/** Builds the sampled stream. Each subscriber gets its own rate baseline. */
export function sampledStats(
  changes$: Observable<unknown>,
  snapshot: () => CounterSnapshot,
  nowNs: () => number,
  topology: Topology,
  periodMs: number,
): Observable<StatsSample> {
  return defer(() => {
    let previous: { timeNs: number; bytes: Map<string, [number, number]> } | undefined;
    return changes$.pipe(
      startWith(undefined),
      throttleTime(periodMs, asyncScheduler, { leading: true, trailing: true }),
      map(() => {
        const snap = snapshot();
        const timeNs = nowNs();
        const seconds = previous ? (timeNs - previous.timeNs) / 1e9 : 0;
        const rates = snap.links.map((l): LinkRate => {
          const [up, down] = previous?.bytes.get(l.link) ?? [l.upstream.bytes, l.downstream.bytes];
          const upRate = seconds > 0 ? (l.upstream.bytes - up) / seconds : 0;
          const downRate = seconds > 0 ? (l.downstream.bytes - down) / seconds : 0;
          const bw = topology.has(l.link) ? topology.link(l.link).params.bytesPerSecond : Number.POSITIVE_INFINITY;
          return {
            link: l.link,
            upstreamBytesPerSecond: upRate,
            downstreamBytesPerSecond: downRate,
            utilization: Math.max(upRate, downRate) / bw,
          };
        });
        previous = { timeNs, bytes: new Map(snap.links.map((l) => [l.link, [l.upstream.bytes, l.downstream.bytes]])) };
        return { ...snap, timeNs, rates };
      }),
    );
  });
}
