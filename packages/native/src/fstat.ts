import { check } from './errors.ts';
import { libc } from './libc.ts';

/** struct stat on x86_64 Linux: 144 bytes, st_mode (u32) at 24, st_size (i64) at 48. */
const STAT_SIZE = 144;
const ST_MODE = 24;
const ST_SIZE = 48;
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;

/** What fstat(2) says about an fd: enough to know whether mapping `[offset, +length)` is safe. */
export interface FileStat {
  /** st_mode: file type and permission bits. */
  mode: number;
  /** st_size in bytes (a memfd's size is what ftruncate set). */
  size: bigint;
  /** A regular file — memfds and tmpfs/hugetlbfs files included; only these have a meaningful size. */
  isRegularFile: boolean;
}

/** fstat(2) through koffi. Throws NativeError (EBADF, ...). */
export function fileStat(fd: number): FileStat {
  const buf = Buffer.alloc(STAT_SIZE);
  check('fstat', libc.fstat(fd, buf), `fd ${fd}`);
  const mode = buf.readUInt32LE(ST_MODE);
  return { mode, size: buf.readBigInt64LE(ST_SIZE), isRegularFile: (mode & S_IFMT) === S_IFREG };
}
