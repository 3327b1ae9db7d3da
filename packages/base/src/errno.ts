/**
 * Linux errno values (x86_64 numbering): the one table for error replies on the vfio-user wire,
 * {@link DmaError}s, and failed system calls. vfio-user error replies carry these positive values.
 */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  E2BIG: 7,
  EBADF: 9,
  EAGAIN: 11,
  EWOULDBLOCK: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  EMFILE: 24,
  ENOSPC: 28,
  EPIPE: 32,
  ERANGE: 34,
  ENOSYS: 38,
  EMSGSIZE: 90,
  ENOTSUP: 95,
  EOPNOTSUPP: 95,
  EADDRINUSE: 98,
  ECONNABORTED: 103,
  ECONNRESET: 104,
  ENOTCONN: 107,
  ETIMEDOUT: 110,
  ECONNREFUSED: 111,
} as const;

const names = new Map<number, string>();
for (const [name, n] of Object.entries(Errno)) if (!names.has(n)) names.set(n, name);

/** `EFAULT` for 14; `errno 200` for a number the table does not name. */
export function errnoName(errno: number): string {
  return names.get(errno) ?? `errno ${errno}`;
}
