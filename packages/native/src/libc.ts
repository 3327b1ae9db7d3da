/**
 * libc entry points used by p2pkit, bound once through koffi.
 * Pointers are BigInt (koffi ≥ 3); buffers passed as `void *` are pinned for the call only.
 */
import koffi from 'koffi';

const lib = koffi.load('libc.so.6');

export const libc = {
  socket: lib.func('int socket(int domain, int type, int protocol)'),
  socketpair: lib.func('int socketpair(int domain, int type, int protocol, _Out_ int *sv)'),
  bind: lib.func('int bind(int fd, void *addr, uint32_t len)'),
  listen: lib.func('int listen(int fd, int backlog)'),
  accept4: lib.func('int accept4(int fd, void *addr, void *len, int flags)'),
  connect: lib.func('int connect(int fd, void *addr, uint32_t len)'),
  sendmsg: lib.func('intptr_t sendmsg(int fd, void *msg, int flags)'),
  recvmsg: lib.func('intptr_t recvmsg(int fd, void *msg, int flags)'),
  send: lib.func('intptr_t send(int fd, void *buf, size_t len, int flags)'),
  recv: lib.func('intptr_t recv(int fd, void *buf, size_t len, int flags)'),
  close: lib.func('int close(int fd)'),
  mmap: lib.func('void *mmap(void *addr, size_t len, int prot, int flags, int fd, int64_t offset)'),
  munmap: lib.func('int munmap(void *addr, size_t len)'),
  msync: lib.func('int msync(void *addr, size_t len, int flags)'),
  memfd_create: lib.func('int memfd_create(const char *name, unsigned int flags)'),
  ftruncate: lib.func('int ftruncate(int fd, int64_t length)'),
  fallocate: lib.func('int fallocate(int fd, int mode, int64_t offset, int64_t len)'),
  eventfd: lib.func('int eventfd(unsigned int initval, int flags)'),
  dup: lib.func('int dup(int fd)'),
  fstat: bindFstat(),
  poll: lib.func('int poll(void *fds, unsigned long nfds, int timeout)'),
  getsockopt: lib.func('int getsockopt(int fd, int level, int optname, void *optval, void *optlen)'),
  preadv: lib.func('intptr_t preadv(int fd, void *iov, int iovcnt, int64_t offset)'),
  pwritev: lib.func('intptr_t pwritev(int fd, void *iov, int iovcnt, int64_t offset)'),
  sched_setaffinity: lib.func('int sched_setaffinity(int tid, size_t size, void *mask)'),
  sched_getaffinity: lib.func('int sched_getaffinity(int tid, size_t size, void *mask)'),
};

/** fstat(fd, struct stat *): exported by glibc ≥ 2.33; older glibc only has __fxstat(_STAT_VER = 1, ...). */
function bindFstat(): (fd: number, buf: Buffer) => number {
  try {
    return lib.func('int fstat(int fd, void *buf)') as (fd: number, buf: Buffer) => number;
  } catch {
    const fxstat = lib.func('int __fxstat(int ver, int fd, void *buf)');
    return (fd, buf) => fxstat(1, fd, buf) as number;
  }
}

/** Constants from the x86_64 Linux ABI. */
export const C = {
  AF_UNIX: 1,
  SOCK_STREAM: 1,
  SOCK_NONBLOCK: 0o4000,
  SOCK_CLOEXEC: 0o2000000,
  SOL_SOCKET: 1,
  SCM_RIGHTS: 1,
  SO_PEERCRED: 17,
  MSG_CTRUNC: 0x8,
  MSG_DONTWAIT: 0x40,
  MSG_NOSIGNAL: 0x4000,
  MSG_CMSG_CLOEXEC: 0x40000000,
  PROT_READ: 1,
  PROT_WRITE: 2,
  MAP_SHARED: 1,
  MAP_PRIVATE: 2,
  MAP_FIXED: 0x10,
  MAP_ANONYMOUS: 0x20,
  MAP_NORESERVE: 0x4000,
  MS_SYNC: 4,
  MFD_CLOEXEC: 1,
  EFD_CLOEXEC: 0o2000000,
  EFD_NONBLOCK: 0o4000,
  FALLOC_FL_KEEP_SIZE: 1,
  FALLOC_FL_PUNCH_HOLE: 2,
  POLLERR: 0x8,
  POLLHUP: 0x10,
  POLLRDHUP: 0x2000,
} as const;

/** mmap's MAP_FAILED, as koffi returns it. */
export const MAP_FAILED = 0xffffffffffffffffn;

export { koffi };
