/**
 * preadv(2)/pwritev(2): one system call moves a list of buffers — e.g. the scattered guest pages of
 * one NVMe command — from/to consecutive file positions, where fs.readSync/writeSync need one call
 * (and one crossing into the runtime) per buffer.
 */
import { Errno } from '@p2pkit/base';
import { check, NativeError } from './errors.ts';
import { koffi, libc } from './libc.ts';

/** Linux's IOV_MAX: at most this many buffers per call. */
const IOV_MAX = 1024;
/** struct iovec[]: base address and length per buffer (x86_64: two 64-bit words). Reused: calls are synchronous. */
let iov = new BigUint64Array(2 * 64);

/** Fills `iov` with `buffers[from .. from + count)`, the first one starting `skip` bytes in. */
function describe(buffers: readonly Uint8Array[], from: number, count: number, skip: number): BigUint64Array {
  if (iov.length < 2 * count) iov = new BigUint64Array(2 * Math.max(count, iov.length));
  for (let k = 0; k < count; k++) {
    const b = buffers[from + k] as Uint8Array;
    const offset = k === 0 ? skip : 0;
    // Reading .buffer moves a small on-heap typed array's bytes off the heap for good, so the
    // address stays valid for the call (mapped guest memory and large buffers already are).
    void b.buffer;
    iov[2 * k] = koffi.address(b) + BigInt(offset);
    iov[2 * k + 1] = BigInt(b.byteLength - offset);
  }
  return iov;
}

/** Runs `call` (preadv or pwritev) until every buffer is done or it moves 0 bytes; returns the bytes moved. */
function vectored(
  name: string,
  call: (fd: number, iov: BigUint64Array, count: number, position: number) => number | bigint,
  fd: number,
  buffers: readonly Uint8Array[],
  position: number,
): number {
  let i = 0;
  let skip = 0;
  let total = 0;
  while (i < buffers.length) {
    const count = Math.min(IOV_MAX, buffers.length - i);
    const n = Number(check(name, call(fd, describe(buffers, i, count, skip), count, position + total)));
    if (n === 0) break;
    total += n;
    let left = skip + n;
    while (i < buffers.length && left >= (buffers[i] as Uint8Array).byteLength) left -= (buffers[i++] as Uint8Array).byteLength;
    skip = left;
  }
  return total;
}

/**
 * preadv(2): fills `targets` in order from file position `position` of `fd`. Returns the bytes
 * read: less than their total only at end of file. Throws NativeError on failure.
 */
export function readVectored(fd: number, targets: readonly Uint8Array[], position: number): number {
  return vectored('preadv', libc.preadv, fd, targets, position);
}

/**
 * pwritev(2): writes all of `sources` in order at file position `position` of `fd`. Throws
 * NativeError on failure, or EIO when the file stops taking data.
 */
export function writeVectored(fd: number, sources: readonly Uint8Array[], position: number): void {
  const total = sources.reduce((a, s) => a + s.byteLength, 0);
  const written = vectored('pwritev', libc.pwritev, fd, sources, position);
  if (written < total) throw new NativeError('pwritev', Errno.EIO, `${written} of ${total} bytes written`);
}
