import { describe, expect, it } from 'vitest';
import { BenchError, dmesgExcerpt, fioScript, guestCountersBetween, parseFio, parseGuestCounters } from './fio.ts';

/** The parts of fio 3.x `--output-format=json` the bench reads (group_reporting: one entry per group). */
const fioJson = (jobs: { name: string; read: object; write: object; error?: number }[]) =>
  JSON.stringify({
    'fio version': 'fio-3.38',
    jobs: jobs.map((j) => ({ jobname: j.name, error: j.error ?? 0, read: j.read, write: j.write })),
  });
const section = (ioBytes: number, iops: number, bwBytes: number, p50ns: number, p99ns: number) => ({
  io_bytes: ioBytes,
  bw_bytes: bwBytes,
  iops,
  total_ios: ioBytes / 4096,
  clat_ns: { percentile: { '50.000000': p50ns, '99.000000': p99ns } },
});
const idle = { io_bytes: 0, bw_bytes: 0, iops: 0, total_ios: 0, clat_ns: { percentile: {} } };

describe('parseFio', () => {
  const text = `note: a warning fio printed first\n${fioJson([
    { name: 'shadow', read: idle, write: section(409600, 2500.5, 10_240_000, 12_288, 98_304) },
    { name: 'qemu', read: idle, write: section(819200, 5000, 20_480_000, 6_000, 50_000) },
  ])}`;
  it('reads the named group in the direction the workload moves, clat percentiles in µs', () => {
    expect(parseFio(text, 'w', 'write', 'shadow')).toEqual({ iops: 2500.5, mbps: 10.24, p50us: 12.288, p99us: 98.304, ios: 100 });
    expect(parseFio(text, 'w', 'write', 'qemu').iops).toBe(5000);
    expect(() => parseFio(text, 'w', 'read', 'shadow')).toThrow(/fio moved no data \(read io_bytes=0\)/);
    expect(() => parseFio(text, 'w', 'write', 'poll')).toThrow(/no job named "poll"/);
  });
  it('fails on a fio error, a missing section and text that is not JSON', () => {
    const failed = fioJson([{ name: 'a', read: section(4096, 1, 4096, 1, 1), write: idle, error: 5 }]);
    expect(() => parseFio(failed, 'w', 'read', 'a')).toThrow(/fio job reported error 5/);
    expect(() => parseFio(JSON.stringify({ jobs: [{ jobname: 'a', error: 0 }] }), 'w', 'read', 'a')).toThrow(/no "read" section/);
    expect(() => parseFio('fio: no such file', 'w', 'read', 'a')).toThrow(BenchError);
  });
});

describe('fioScript', () => {
  it('runs every section stonewalled in one fio process, a pair as one colon-separated filename', () => {
    const script = fioScript({
      sections: [
        { name: 'qemux2', serials: ['QEMU-NVME', 'QEMU-NVME-B'] },
        { name: 'shadow', serials: ['P2PK-SHADOW'] },
      ],
      sizeMiB: 64,
      args: ['--rw=randread', '--numjobs=4'],
      timeoutMs: 1,
    });
    expect(script).toContain('d0=$(nvme_ns_by_serial QEMU-NVME) || exit 3\n');
    expect(script).toContain('d1=$(nvme_ns_by_serial QEMU-NVME-B) || exit 3\n');
    expect(script).toContain('d2=$(nvme_ns_by_serial P2PK-SHADOW) || exit 3\n');
    expect(script).toMatch(/^fio --name=global .*--rw=randread --numjobs=4/m);
    expect(script).toContain('--name=qemux2 --filename="$d0:$d1" --size=128M --stonewall');
    expect(script).toContain('--name=shadow --filename="$d2" --size=64M --stonewall');
    expect(script.indexOf('--name=qemux2')).toBeLessThan(script.indexOf('--name=shadow'));
  });
});

describe('guest counters', () => {
  it('are written before and after fio for every device of the run', () => {
    const script = fioScript({
      sections: [
        { name: 'shadow', serials: ['P2PK-SHADOW'] },
        { name: 'qemu', serials: ['QEMU-NVME'] },
      ],
      sizeMiB: 64,
      args: ['--rw=read'],
      timeoutMs: 1000,
    });
    expect(script).toMatch(/c0=\$\(nvme_ctrl_by_serial P2PK-SHADOW\) \|\| exit 3/);
    expect(script).toMatch(/for e in P2PK-SHADOW:\$c0:\$\{d0#\/dev\/\} QEMU-NVME:\$c1:\$\{d1#\/dev\/\}; do/);
    expect(script.indexOf('guest_counters counters.before')).toBeLessThan(script.indexOf('\nfio '));
    expect(script.indexOf('guest_counters counters.after')).toBeGreaterThan(script.indexOf('\nfio '));
  });

  it('parse by serial and sum the devices of a target between two snapshots', () => {
    const before = parseGuestCounters('P2PK-SHADOW 100 40\nQEMU-NVME 7 3\nnoise line\nX 1\n');
    const after = parseGuestCounters('P2PK-SHADOW 1100 1040\nQEMU-NVME 507 1003\n');
    expect([...before.keys()]).toEqual(['P2PK-SHADOW', 'QEMU-NVME']);
    expect(guestCountersBetween(before, after, ['P2PK-SHADOW'])).toEqual({ interrupts: 1000, ios: 1000 });
    expect(guestCountersBetween(before, after, ['P2PK-SHADOW', 'QEMU-NVME'])).toEqual({ interrupts: 1500, ios: 2000 });
    expect(guestCountersBetween(before, after, ['MISSING'])).toBeUndefined();
  });
});

describe('dmesgExcerpt', () => {
  const line = (i: number, text = `line ${i}`) => `[  ${i}.000000] ${text}`;
  it('keeps the first warning with its call trace as well as the tail that names the failed I/O', () => {
    const log = [
      ...Array.from({ length: 50 }, (_, i) => line(i)),
      line(50, 'WARNING: CPU: 1 PID: 99 at block/blk-mq.c:1 blk_mq_end_request+0x1/0x2'),
      ...Array.from({ length: 100 }, (_, i) => line(51 + i, `trace ${i}`)),
      line(151, 'nvme1n1: I/O Cmd(0x1) @ LBA 69376, 256 blocks, I/O Error (sct 0x0 / sc 0x13) DNR'),
    ].join('\n');
    const text = dmesgExcerpt(log);
    expect(text).toContain('--- dmesg (first warning)\n[  50.000000] WARNING: CPU: 1');
    expect(text).toContain('trace 38'); // 40 lines from the warning
    expect(text).not.toContain('trace 39\n');
    expect(text.trim().endsWith('sc 0x13) DNR')).toBe(true);
    expect(text.split('\n').filter((l) => l.startsWith('[')).length).toBe(70);
  });
  it('is the tail alone when nothing warned, or when the warning is in the tail', () => {
    const quiet = Array.from({ length: 80 }, (_, i) => line(i)).join('\n');
    expect(dmesgExcerpt(quiet)).toBe(`\n--- dmesg (tail)\n${Array.from({ length: 30 }, (_, i) => line(50 + i)).join('\n')}`);
    const late = [...Array.from({ length: 40 }, (_, i) => line(i)), line(40, 'WARNING: late'), line(41)].join('\n');
    expect(dmesgExcerpt(late)).not.toContain('first warning');
    expect(dmesgExcerpt(late)).toContain('WARNING: late');
  });
});
