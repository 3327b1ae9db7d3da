/*
 * atomic-write: one RWF_ATOMIC write to a block device, as an application asking the kernel for an
 * untorn write does it (pwritev2 on an O_DIRECT descriptor), then an O_DIRECT read-back.
 *
 *   atomic-write <tag> <device> <offset> <length> <byte>
 *
 * Fills <length> bytes with <byte>, writes them at <offset> with RWF_ATOMIC and prints
 * <tag>_write=ok, or <tag>_write=<errno name> when the kernel refuses it; after a successful write
 * prints <tag>_verify=ok|mismatch. Exit 2 on a system error outside the write itself.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef RWF_ATOMIC
#define RWF_ATOMIC 0x00000040 /* include/uapi/linux/fs.h, Linux 6.11 */
#endif

static const char *errno_name(int e) {
  switch (e) {
  case EINVAL: return "EINVAL";
  case EOPNOTSUPP: return "EOPNOTSUPP";
  case EIO: return "EIO";
  default: return "OTHER";
  }
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: atomic-write <tag> <device> <offset> <length> <byte>\n");
    return 2;
  }
  const char *tag = argv[1];
  off_t offset = (off_t)strtoull(argv[3], NULL, 0);
  size_t length = strtoul(argv[4], NULL, 0);
  int byte = (int)strtol(argv[5], NULL, 0);
  int fd = open(argv[2], O_RDWR | O_DIRECT);
  void *buf = NULL, *back = NULL;
  if (fd < 0 || posix_memalign(&buf, 4096, length) || posix_memalign(&back, 4096, length)) {
    perror("setup");
    return 2;
  }
  memset(buf, byte, length);
  struct iovec iov = { .iov_base = buf, .iov_len = length };
  ssize_t n = pwritev2(fd, &iov, 1, offset, RWF_ATOMIC);
  if (n < 0) {
    printf("%s_write=%s\n", tag, errno_name(errno));
    return 0;
  }
  if ((size_t)n != length) {
    printf("%s_write=short\n", tag);
    return 0;
  }
  printf("%s_write=ok\n", tag);
  if (pread(fd, back, length, offset) != (ssize_t)length) {
    perror("read back");
    return 2;
  }
  printf("%s_verify=%s\n", tag, memcmp(buf, back, length) == 0 ? "ok" : "mismatch");
  return 0;
}
