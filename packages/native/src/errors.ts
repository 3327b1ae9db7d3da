import { errnoName } from '@p2pkit/base';
import { koffi } from './libc.ts';

/** A failed system call, carrying its errno and the symbolic code (`EAGAIN`, ...). */
export class NativeError extends Error {
  readonly code: string;
  constructor(
    readonly syscall: string,
    readonly errno: number,
    detail?: string,
  ) {
    const code = errnoName(errno);
    super(`${syscall} failed: ${code}${detail ? ` (${detail})` : ''}`);
    this.name = 'NativeError';
    this.code = code;
  }
}

/** The calling thread's errno after a failed koffi call. */
export function lastErrno(): number {
  return koffi.errno();
}

/** Throw a NativeError when a libc call returned a negative value. */
export function check<T extends number | bigint>(syscall: string, result: T, detail?: string): T {
  if (result < 0) throw new NativeError(syscall, lastErrno(), detail);
  return result;
}
