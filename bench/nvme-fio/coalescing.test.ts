import type { Guest, JobResult } from '@p2pkit/testbed';
import { describe, expect, it } from 'vitest';
import { coalescingDword, parseCoalescing, requestCoalescing } from './coalescing.ts';

/** A guest whose job prints `stdout`; it keeps the script it was given. */
const fakeGuest = (stdout: string, exitCode = 0) => {
  const scripts: string[] = [];
  const guest = {
    run: async (script: string) => {
      scripts.push(script);
      return { exitCode, stdout, stderr: '', files: new Map(), timedOut: false } as unknown as JobResult;
    },
  } as unknown as Guest;
  return { guest, scripts };
};

describe('Interrupt Coalescing setting', () => {
  it("encodes Feature 08h's Dword 11: THR 0's based in bits 7:0, TIME in 100 µs units in bits 15:8", () => {
    expect(coalescingDword({ entries: 4, timeUs: 2000 })).toBe(0x1403);
    expect(coalescingDword({ entries: 1, timeUs: 100 })).toBe(0x0100);
    expect(coalescingDword({ entries: 256, timeUs: 25_500 })).toBe(0xffff);
  });

  it('parses entries,µs and refuses what the two 8-bit fields cannot hold', () => {
    expect(parseCoalescing(' 4,2000 ')).toEqual({ entries: 4, timeUs: 2000 });
    for (const bad of ['', '4', '4,', ',2000', '0,2000', '257,2000', '4,0', '4,50', '4,150', '4,25600', '-1,100', '4.5,100', '4,2000,1'])
      expect(parseCoalescing(bad), bad).toBeUndefined();
  });
});

describe('requestCoalescing', () => {
  const c = { entries: 4, timeUs: 2000 };
  const answered =
    'P2PK-SHADOW get-feature:0x08 (Interrupt Coalescing), Current value:0x00001403\n' +
    'QEMU-NVME refused: NVMe status: Feature Not Changeable(0x410e)\n';

  it('sets the feature on every controller and reports what each answered, a refusal included', async () => {
    const { guest, scripts } = fakeGuest(answered);
    const line = await requestCoalescing(
      guest,
      [
        { serial: 'P2PK-SHADOW', mustTake: true },
        { serial: 'QEMU-NVME', mustTake: false },
      ],
      c,
    );
    expect(line).toBe('P2PK-SHADOW: 0x00001403; QEMU-NVME: refused: NVMe status: Feature Not Changeable(0x410e)');
    expect(scripts[0]).toContain('nvme set-feature "/dev/$c" --feature-id=8 --value=0x1403');
  });

  it('fails when a device that implements the feature does not take it, or the job fails', async () => {
    const both = [
      { serial: 'P2PK-SHADOW', mustTake: true },
      { serial: 'QEMU-NVME', mustTake: true },
    ];
    await expect(requestCoalescing(fakeGuest(answered).guest, both, c)).rejects.toThrow(
      /QEMU-NVME did not take Interrupt Coalescing 0x1403: refused/,
    );
    const other = 'P2PK-SHADOW get-feature:0x08 (Interrupt Coalescing), Current value:0x00000000\n';
    await expect(requestCoalescing(fakeGuest(other).guest, [both[0] as (typeof both)[0]], c)).rejects.toThrow(/0x00000000/);
    await expect(requestCoalescing(fakeGuest('', 3).guest, both, c)).rejects.toThrow(/guest job failed \(exit 3\)/);
  });
});
