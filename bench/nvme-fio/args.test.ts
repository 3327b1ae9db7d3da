import { describe, expect, it } from 'vitest';
import { parseBenchArgs, UsageError } from './args.ts';

const error = (argv: string[]) => {
  try {
    parseBenchArgs(argv);
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as Error).message;
  }
  throw new Error(`accepted ${argv.join(' ')}`);
};

describe('parseBenchArgs', () => {
  it('defaults to every device and workload, 3 rounds of 1 + 5 s', () => {
    const o = parseBenchArgs([]);
    expect(o).toMatchObject({ seconds: 5, rampSeconds: 1, reps: 3, sizeMiB: 64, help: false });
    expect(o.devices).toEqual(['shadow', 'poll', 'mmio', 'cmb', 'cmb-poll', 'qemu']);
    expect(o.workloads).toHaveLength(7);
    expect(o.json).toBeUndefined();
    expect(o.coalescing).toBeUndefined();
  });
  it('takes interrupt coalescing as entries and µs', () => {
    expect(parseBenchArgs(['--coalescing', '4,2000']).coalescing).toEqual({ entries: 4, timeUs: 2000 });
    expect(parseBenchArgs(['--coalescing=256,25500']).coalescing).toEqual({ entries: 256, timeUs: 25_500 });
  });
  it('keeps lists in report order without duplicates and always adds the reference', () => {
    const o = parseBenchArgs(['--devices', 'cmb, shadow,cmb', '--workloads=128k-read-qd8,4k-randread-qd1', '--reps', '5']);
    expect(o.devices).toEqual(['shadow', 'cmb', 'qemu']);
    expect(o.workloads).toEqual(['4k-randread-qd1', '128k-read-qd8']);
    expect(o.reps).toBe(5);
  });
  it('rejects bad values with one line that names the option', () => {
    for (const [argv, text] of [
      [['--reps', '0'], '--reps "0": expected an integer from 1 to 100'],
      [['--seconds', '2.5'], '--seconds "2.5"'],
      [['--seconds', ''], '--seconds ""'],
      [['--size-mib', '4'], '--size-mib "4"'],
      [['--devices', 'shadow,nope'], 'unknown nope'],
      [['--devices', ''], '--devices ""'],
      [['--workloads', '4k'], 'unknown 4k'],
      [['--poll-min-us', '500', '--poll-max-us', '100'], '--poll-max-us 100 is below --poll-min-us 500'],
      [['--json', ''], '--json: expected a path'],
      [['--coalescing', '4'], '--coalescing "4": expected ENTRIES,MICROSECONDS'],
      [['--coalescing', '0,2000'], '--coalescing "0,2000"'],
      [['--coalescing', '257,2000'], '--coalescing "257,2000"'],
      [['--coalescing', '4,150'], '--coalescing "4,150"'],
      [['--coalescing', '4,25600'], '--coalescing "4,25600"'],
      [['--frobnicate'], "Unknown option '--frobnicate'"],
      [['--reps'], "Option '--reps <value>' argument missing"],
      [['positional'], "Unexpected argument 'positional'"],
    ] as const) {
      const message = error([...argv]);
      expect(message).toContain(text);
      expect(message).not.toContain('\n');
    }
  });
});
