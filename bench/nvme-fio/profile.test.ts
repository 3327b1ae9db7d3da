import { describe, expect, it } from 'vitest';
import { busyMicros } from './profile.ts';

describe('busyMicros', () => {
  it("sums the time of every sample outside (idle) and the inspector's dispatch, charged to the state the sample found", () => {
    const profile = {
      nodes: [
        { id: 1, callFrame: { functionName: '(root)', url: '' } },
        { id: 2, callFrame: { functionName: '(idle)', url: '' } },
        { id: 3, callFrame: { functionName: 'handleRead', url: 'file:///p2pkit/packages/nvme/src/io/read-write.ts' } },
        { id: 4, callFrame: { functionName: '(garbage collector)', url: '' } },
        { id: 5, callFrame: { functionName: 'dispatch', url: '' } },
        { id: 6, callFrame: { functionName: 'dispatch', url: 'file:///p2pkit/packages/nvme/src/executor.ts' } },
      ],
      samples: [2, 3, 3, 2, 4, 5, 6],
      timeDeltas: [1000, 250, 500, 4000, 125, 3000, 64],
    };
    expect(busyMicros(profile)).toBe(939);
    expect(busyMicros({ nodes: [] })).toBe(0);
  });
});
