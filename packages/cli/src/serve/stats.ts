/** `p2pkit serve --stats`: the fabric's sampled per-link counters (its rxjs `stats$`), one line per sample. */
import { formatBytes } from '@p2pkit/base';
import type { Fabric, StatsSample } from '@p2pkit/fabric';

/** One human line: each link that carried traffic, with its rate and total up/down. */
function formatStatsLine(s: StatsSample): string {
  const rates = new Map(s.rates.map((r) => [r.link, r]));
  const links = s.links
    .filter((l) => l.upstream.bytes + l.downstream.bytes > 0)
    .map((l) => {
      const r = rates.get(l.link);
      const rate = r ? ` ${formatBytes(r.upstreamBytesPerSecond)}/s↑ ${formatBytes(r.downstreamBytesPerSecond)}/s↓` : '';
      return `${l.link}${rate} (total ${formatBytes(l.upstream.bytes)}↑ ${formatBytes(l.downstream.bytes)}↓)`;
    });
  return `[stats +${(s.timeNs / 1e9).toFixed(1)} s] ${links.length > 0 ? links.join(' | ') : 'no traffic yet'}`;
}

/** Print samples every `periodMs` while traffic flows (JSON lines on stdout with `json`, else lines on stderr); returns stop(). */
export function printStats(fabric: Fabric, periodMs: number, json: boolean): () => void {
  const sub = fabric.stats$(periodMs).subscribe((s) => {
    if (json) process.stdout.write(`${JSON.stringify({ stats: { timeNs: s.timeNs, links: s.links, rates: s.rates } })}\n`);
    else process.stderr.write(`${formatStatsLine(s)}\n`);
  });
  return () => sub.unsubscribe();
}
