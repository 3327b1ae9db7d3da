/**
 * Summarises a V8 .cpuprofile (node --cpu-prof): self time by function and by package/area.
 * Usage: tsx bench/cpu-profile-summary.ts <file.cpuprofile> [top N]
 */
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
const [file, topArg] = process.argv.slice(2) as [string, string | undefined];
const prof = JSON.parse(readFileSync(file, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const self = new Map<number, number>();
prof.samples.forEach((id, i) => {
  self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0));
});
const total = [...self.values()].reduce((a, b) => a + b, 0);
const area = (url: string) => {
  const m = /packages\/([^/]+)\/src\/(?:([^/]+)\/)?/.exec(url);
  if (m) return m[2] && m[1] === 'nvme' && m[2] === 'testing' ? 'nvme/testing (driver)' : `@p2pkit/${m[1]}`;
  if (url.includes('node_modules/koffi')) return 'koffi';
  if (url.startsWith('node:')) return url;
  return url === '' ? '(native/VM)' : url.replace(/^.*\//, '');
};
const fn = new Map<string, number>();
const areas = new Map<string, number>();
for (const [id, t] of self) {
  const n = byId.get(id) as Node;
  const key = `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(/^.*\/packages\//, '').replace(/^file:\/\/.*\//, '')}:${n.callFrame.lineNumber + 1}`;
  fn.set(key, (fn.get(key) ?? 0) + t);
  const a = area(n.callFrame.url);
  areas.set(a, (areas.get(a) ?? 0) + t);
}
const pct = (t: number) => `${((100 * t) / total).toFixed(1)}%`;
console.log(`total ${(total / 1e6).toFixed(2)} s sampled`);
console.log('\nself time by area:');
for (const [k, t] of [...areas].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`  ${pct(t).padStart(6)}  ${k}`);
console.log('\ntop functions by self time:');
for (const [k, t] of [...fn].sort((a, b) => b[1] - a[1]).slice(0, Number(topArg ?? 25))) console.log(`  ${pct(t).padStart(6)}  ${k}`);
