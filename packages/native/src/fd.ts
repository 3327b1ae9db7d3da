import { readdirSync } from 'node:fs';
import { check } from './errors.ts';
import { libc } from './libc.ts';

/**
 * Ownership of one file descriptor: closed exactly once, whoever asks first.
 * Pass `fd` to APIs that borrow it; only the owner calls close().
 */
export class OwnedFd {
  #fd: number;
  constructor(fd: number) {
    if (!Number.isInteger(fd) || fd < 0) throw new RangeError(`invalid file descriptor ${fd}`);
    this.#fd = fd;
  }
  /** The descriptor number; throws once closed so a recycled number is never used by mistake. */
  get fd(): number {
    if (this.#fd < 0) throw new Error('file descriptor already closed');
    return this.#fd;
  }
  get closed(): boolean {
    return this.#fd < 0;
  }
  /** Give up ownership without closing (the caller now owns the number). */
  release(): number {
    const fd = this.fd;
    this.#fd = -1;
    return fd;
  }
  close(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    closeFd(fd);
  }
  [Symbol.dispose](): void {
    this.close();
  }
}

/** close(2), raising on EBADF (a double close is a bug we want to see). */
export function closeFd(fd: number): void {
  check('close', libc.close(fd), `fd ${fd}`);
}

/** Number of descriptors this process holds (for leak tests). */
export function openFdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

/** dup(2): a second descriptor for the same open file, owned by the caller. */
export function dupFd(fd: number): number {
  return check('dup', libc.dup(fd), `fd ${fd}`);
}
