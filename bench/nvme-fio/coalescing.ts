/**
 * `--coalescing`: the guest asks every device for NVMe Interrupt Coalescing (Set Features 08h, the
 * host's setting: its reset value is off) before the runs — the same request for p2pkit's devices
 * and QEMU's nvme. A controller then delays a CQ's interrupt until `entries` completions are posted
 * or `timeUs` has passed since the first one (admin queue excepted). The report's interrupts per
 * I/O show what each device made of it.
 */
import type { Guest } from '@p2pkit/testbed';
import { BenchError } from './fio.ts';

/** Aggregation Threshold as a count of CQ entries, and Aggregation Time in µs (a multiple of 100). */
export interface Coalescing {
  entries: number;
  timeUs: number;
}

/** Feature 08h's Dword 11: THR (0's based) in bits 7:0, TIME (100 µs units) in bits 15:8. */
export function coalescingDword(c: Coalescing): number {
  return ((c.timeUs / 100) << 8) | (c.entries - 1);
}

/** `entries,µs` → the setting; undefined for text that is not one (the caller words the error). */
export function parseCoalescing(text: string): Coalescing | undefined {
  const m = /^(\d+),(\d+)$/.exec(text.trim());
  if (!m) return undefined;
  const entries = Number(m[1]);
  const timeUs = Number(m[2]);
  if (entries < 1 || entries > 256 || timeUs < 100 || timeUs > 25_500 || timeUs % 100 !== 0) return undefined;
  return { entries, timeUs };
}

/**
 * Sets the feature on the controller of every serial; returns, by serial, what the controller
 * reports back (`0x…`) or how it refused (the spec makes the feature mandatory, but a model may not
 * implement it). Throws when the guest job itself fails.
 */
export async function requestCoalescing(guest: Guest, serials: readonly string[], c: Coalescing): Promise<Map<string, string>> {
  const value = `0x${coalescingDword(c).toString(16)}`;
  const script = serials
    .map(
      (s) =>
        `c=$(nvme_ctrl_by_serial ${s}) || exit 3\n` +
        `if out=$(nvme set-feature "/dev/$c" --feature-id=8 --value=${value} 2>&1); then\n` +
        `  echo "${s} $(nvme get-feature "/dev/$c" --feature-id=8 2>&1)"\n` +
        `else echo "${s} refused: $out"; fi`,
    )
    .join('\n');
  const job = await guest.run(script, { timeoutMs: 60_000 });
  if (job.exitCode !== 0)
    throw new BenchError(`--coalescing: the guest job failed (exit ${job.exitCode}): ${job.stderr.trim() || job.stdout.trim()}`);
  const out = new Map<string, string>();
  for (const s of serials) {
    const line = job.stdout.split('\n').find((l) => l.startsWith(`${s} `)) ?? '';
    const current = /Current value:\s*(0x[0-9a-f]+)/i.exec(line)?.[1];
    out.set(
      s,
      current ??
        (line
          .slice(s.length + 1)
          .replace(/\s+/g, ' ')
          .trim() ||
          'no answer'),
    );
  }
  return out;
}
