/** Times on the command line: plain numbers are milliseconds; `ns`, `us`/`µs`, `ms` and `s` units are accepted. */

const UNIT_NS: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9 };

/** `'150'` → 150 ms, `'1.5s'`, `'200us'` → nanoseconds; throws a one-line error naming `what`. */
export function parseTimeNs(text: string, what: string): number {
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ns|us|µs|ms|s)?\s*$/.exec(text);
  if (!m?.[1]) throw new Error(`${what}: cannot read '${text}' as a time (milliseconds, or with a unit: 500us, 20ms, 1.5s)`);
  return Number(m[1]) * (UNIT_NS[m[2] ?? 'ms'] as number);
}

/** Nanoseconds for humans: `250 µs`, `12.5 ms`, `1.20 s`. */
export function formatNs(ns: number): string {
  if (ns >= 1e9) return `${(ns / 1e9).toFixed(2)} s`;
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(ns >= 1e8 ? 0 : 1)} ms`;
  return `${(ns / 1e3).toFixed(0)} µs`;
}
