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

/** The run header's line for the setting and what each device answered. */
export function describeCoalescing(c: Coalescing, answers: string): string {
  return `interrupt coalescing asked of every device (Set Features 08h): an interrupt per ${c.entries} completions or after ${c.timeUs} µs; the devices answered ${answers}`;
}

/**
 * Sets the feature on the controller of every device and returns what each reports back (`0x…`)
 * or how it refused, as one line (`SERIAL: answer; …`). The spec makes the feature mandatory, but a
 * model may not implement it (QEMU 11.1's nvme refuses it); a device marked `mustTake` (p2pkit's,
 * which implement it) that does not take it is a bug, not a result: a {@link BenchError}, as is a
 * failed guest job.
 */
export async function requestCoalescing(
  guest: Guest,
  devices: readonly { serial: string; mustTake: boolean }[],
  c: Coalescing,
): Promise<string> {
  const want = coalescingDword(c);
  const script = devices
    .map(
      ({ serial }) =>
        `c=$(nvme_ctrl_by_serial ${serial}) || exit 3\n` +
        `if out=$(nvme set-feature "/dev/$c" --feature-id=8 --value=0x${want.toString(16)} 2>&1); then\n` +
        `  echo "${serial} $(nvme get-feature "/dev/$c" --feature-id=8 2>&1)"\n` +
        `else echo "${serial} refused: $out"; fi`,
    )
    .join('\n');
  const job = await guest.run(script, { timeoutMs: 60_000 });
  if (job.exitCode !== 0)
    throw new BenchError(`--coalescing: the guest job failed (exit ${job.exitCode}): ${job.stderr.trim() || job.stdout.trim()}`);
  const answers = devices.map(({ serial, mustTake }) => {
    const line = job.stdout.split('\n').find((l) => l.startsWith(`${serial} `)) ?? '';
    const current = /Current value:\s*(0x[0-9a-f]+)/i.exec(line)?.[1];
    const answer =
      current ??
      (line
        .slice(serial.length + 1)
        .replace(/\s+/g, ' ')
        .trim() ||
        'no answer');
    if (mustTake && (current === undefined || Number.parseInt(current, 16) !== want))
      throw new BenchError(`--coalescing: ${serial} did not take Interrupt Coalescing 0x${want.toString(16)}: ${answer}`);
    return `${serial}: ${answer}`;
  });
  return answers.join('; ');
}
