import { Duplex, PassThrough } from 'node:stream';
import { DmaError } from '@p2pkit/base';
import { describe, expect, it } from 'vitest';
import { type Fabric, portChannel, serveRemoteEndpoint, streamChannel } from '../src/index.ts';
import { encodeFrame, FrameDecoder, RpcPeer } from '../src/internal.ts';
import { tsChild, tsWorker } from './fixtures/launch.ts';
import { A_BAR, FakeBaseDma, switchRig } from './helpers.ts';

/** Normalises Buffer / Uint8Array / number[] for comparisons (msgpackr may decode either type). */
const u8 = (v: unknown) => Uint8Array.from(v as ArrayLike<number>);

const WORKER = new URL('./fixtures/remote-endpoint-worker.ts', import.meta.url);
const B_REMOTE = 0xf8000000n;

function duplexPair(): [Duplex, Duplex] {
  const ab = new PassThrough();
  const ba = new PassThrough();
  return [Duplex.from({ readable: ba, writable: ab }), Duplex.from({ readable: ab, writable: ba })];
}

describe('frame codec', () => {
  it('decodes frames split and merged arbitrarily', () => {
    const values = [{ a: 1n << 60n, b: 'x' }, new Uint8Array([1, 2, 3]), 42, { nested: [0xf4000000n, null] }];
    const bytes = Buffer.concat(values.map((v) => encodeFrame(v)));
    for (const step of [1, 3, 7, bytes.length]) {
      const d = new FrameDecoder();
      const out: unknown[] = [];
      for (let i = 0; i < bytes.length; i += step) out.push(...d.push(bytes.subarray(i, i + step)));
      expect([out[0], u8(out[1]), out[2], out[3]]).toEqual([values[0], u8([1, 2, 3]), 42, values[3]]);
      expect(d.pending).toBe(0);
    }
  });

  it('rejects absurd frame lengths', () => {
    expect(() => new FrameDecoder().push(new Uint8Array([0xff, 0xff, 0xff, 0xff]))).toThrow(/exceeds/);
  });
});

describe('rpc', () => {
  it('answers requests by id, carries DmaErrors, and fails pending calls on close', async () => {
    const [x, y] = duplexPair();
    const left = new RpcPeer(streamChannel(x));
    const right = new RpcPeer(streamChannel(y));
    right.handle<{ n: number }>('double', async ({ n }) => {
      await new Promise((r) => setTimeout(r, 5 - n));
      return n * 2;
    });
    right.handle('fail', () => {
      throw new DmaError('nope', 0x1000n, 4, 14);
    });
    const results = await Promise.all([1, 2, 3].map((n) => left.request<number>('double', { n })));
    expect(results).toEqual([2, 4, 6]);
    const err = await left.request('fail', null).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DmaError);
    expect(err).toMatchObject({ errno: 14, address: 0x1000n, length: 4 });
    await expect(left.request('missing', null)).rejects.toThrow(/no handler/);
    right.handle('hang', () => new Promise(() => {}));
    const hanging = left.request('hang', null);
    right.close();
    await expect(hanging).rejects.toThrow(/closed/);
  });
});

async function exercise(fabric: Fabric, control: RpcPeer, a: { bytes: Uint8Array }): Promise<void> {
  // Placement learned remotely (as from a config-space write in the worker).
  await control.request('test.setBar', { bar: 2, address: B_REMOTE });
  // The fabric-side endpoint `a` writes into the remote BAR: a peer-local route through the proxy.
  const dmaA = fabric.dmaSpaceFor('a', new FakeBaseDma(new Uint8Array(4096)));
  expect(fabric.route('a', B_REMOTE, 16, 'write').kind).toBe('peer-local');
  await dmaA.write(B_REMOTE + 0x10n, new Uint8Array([1, 2, 3, 4]));
  expect(u8(await control.request('test.bar', { offset: 0x10, length: 4 }))).toEqual(u8([1, 2, 3, 4]));
  expect(u8(await dmaA.read(B_REMOTE + 0x10n, 4))).toEqual(u8([1, 2, 3, 4]));

  // The remote endpoint writes into a's BAR (peer through the fabric) and into its own guest RAM.
  await control.request('test.write', { address: A_BAR + 0x100n, data: new Uint8Array([9, 8, 7]) });
  expect(a.bytes.subarray(0x100, 0x103)).toEqual(new Uint8Array([9, 8, 7]));
  await control.request('test.write', { address: 0x40n, data: new Uint8Array([5, 5]) });
  expect(u8(await control.request('test.ram', { offset: 0x40, length: 2 }))).toEqual(u8([5, 5]));
  expect(u8(await control.request('test.read', { address: A_BAR + 0x100n, length: 3 }))).toEqual(u8([9, 8, 7]));

  // Refusals come back as DmaErrors with their errno.
  fabric.setMemorySpaceEnabled('a', false);
  await expect(control.request('test.write', { address: A_BAR, data: new Uint8Array(1) })).rejects.toMatchObject({
    name: 'DmaError',
    errno: 1,
  });
  fabric.setMemorySpaceEnabled('a', true);

  // Counters saw b's traffic on b's link (dn1) and not on the switch upstream link for peer traffic.
  // No wait needed: each `done` notification precedes the reply to the command that caused it.
  const b = fabric.endpoint('b');
  expect(b).toMatchObject({ bytesWritten: 5, bytesRead: 3, refused: 1, servedWriteBytes: 4, servedReadBytes: 4 });
  expect(b.byKind['guest-ram']).toBe(2);
  expect(fabric.link('dn1').upstream.bytes).toBe(3 + 2 + 4); // its writes (3 to a, 2 to RAM) + completions of a's read
  expect(fabric.link('rp0').upstream.bytes).toBe(2); // only the guest-RAM write
}

describe('remote endpoints', () => {
  it('serves an endpoint running in a worker thread', async () => {
    const { fabric, a } = switchRig();
    fabric.unregisterEndpoint('b');
    const worker = tsWorker(WORKER);
    try {
      const channel = portChannel(worker);
      const server = await serveRemoteEndpoint(fabric, channel);
      expect(server.endpointId).toBe('b');
      const control = server.rpc;
      await exercise(fabric, control, a);
      await control.request('test.exit', null);
    } finally {
      await worker.terminate();
    }
    expect(fabric.isRegistered('b')).toBe(false);
  });

  it('serves an endpoint running in a child process over stdio', async () => {
    const { fabric, a } = switchRig();
    fabric.unregisterEndpoint('b');
    const child = tsChild(WORKER);
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    if (!child.stdout || !child.stdin) throw new Error('child without pipes');
    const stream = Duplex.from({ readable: child.stdout, writable: child.stdin });
    const server = await serveRemoteEndpoint(fabric, streamChannel(stream));
    const control = server.rpc;
    await exercise(fabric, control, a);
    await control.request('test.exit', null);
    expect(await exited).toBe(0);
    await server.closed;
    expect(fabric.isRegistered('b')).toBe(false);
  });
});
