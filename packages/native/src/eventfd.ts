import { readSync, writeSync } from 'node:fs';
import { check } from './errors.ts';
import { OwnedFd } from './fd.ts';
import { C, libc } from './libc.ts';

const one = Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]);

/** Signal an eventfd (e.g. an interrupt fd bound by SET_IRQS): add 1 to its counter. */
export function signalEventFd(fd: number): void {
  writeSync(fd, one, 0, 8);
}

/** An eventfd this process created (tests and the TypeScript client use them as interrupt fds). */
export class EventFd extends OwnedFd {
  static create(nonBlocking = true): EventFd {
    const flags = C.EFD_CLOEXEC | (nonBlocking ? C.EFD_NONBLOCK : 0);
    return new EventFd(check('eventfd', libc.eventfd(0, flags)));
  }

  signal(): void {
    signalEventFd(this.fd);
  }

  /** Read and reset the counter; 0 when nothing was signalled (non-blocking fd). */
  drain(): bigint {
    const b = Buffer.alloc(8);
    try {
      readSync(this.fd, b, 0, 8, null);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') return 0n;
      throw e;
    }
    return b.readBigUInt64LE(0);
  }
}
