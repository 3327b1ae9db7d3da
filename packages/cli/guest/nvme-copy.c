/*
 * nvme-copy: move data between block devices through a p2pmem buffer or a host buffer, O_DIRECT.
 *   nvme-copy seed   <dev> <offset> <bytes> <seed>              write a pseudo-random pattern
 *   nvme-copy copy   <p2pmem/allocate | host> <src> <soff> <dst> <doff> <bytes> <chunk>
 *   nvme-copy verify <a> <aoff> <b> <boff> <bytes>              compare two ranges (host reads)
 * Prints key=value lines. Build: gcc -O2 -static -o nvme-copy nvme-copy.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static int fail(const char *what) {
  printf("error=%s errno=%d (%s)\n", what, errno, strerror(errno));
  return 2;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static void fill(uint8_t *p, size_t n, uint64_t x) {
  for (size_t i = 0; i < n; i += 8) {
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    memcpy(p + i, &x, 8);
  }
}

static int xfer(int fd, void *buf, size_t n, off_t off, int write) {
  ssize_t r = write ? pwrite(fd, buf, n, off) : pread(fd, buf, n, off);
  if (r != (ssize_t)n) {
    if (r >= 0) errno = EIO;
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 6 && !strcmp(argv[1], "seed")) {
    int fd = open(argv[2], O_RDWR | O_DIRECT);
    if (fd < 0) return fail("open");
    off_t off = strtoll(argv[3], 0, 0);
    size_t total = strtoull(argv[4], 0, 0), chunk = 1 << 20;
    uint8_t *buf;
    if (posix_memalign((void **)&buf, 4096, chunk)) return fail("alloc");
    for (size_t done = 0; done < total; done += chunk) {
      fill(buf, chunk, strtoull(argv[5], 0, 0) + done);
      if (xfer(fd, buf, chunk, off + done, 1)) return fail("seed");
    }
    printf("seeded=%zu\n", total);
    return 0;
  }
  if (argc >= 9 && !strcmp(argv[1], "copy")) {
    size_t total = strtoull(argv[7], 0, 0), chunk = strtoull(argv[8], 0, 0);
    int src = open(argv[3], O_RDONLY | O_DIRECT), dst = open(argv[5], O_WRONLY | O_DIRECT);
    if (src < 0 || dst < 0) return fail("open");
    void *buf;
    if (strcmp(argv[2], "host")) {
      int p = open(argv[2], O_RDWR);
      if (p < 0) return fail("open p2pmem");
      buf = mmap(NULL, chunk, PROT_READ | PROT_WRITE, MAP_SHARED, p, 0);
      if (buf == MAP_FAILED) return fail("mmap p2pmem");
    } else if (posix_memalign(&buf, 4096, chunk)) {
      return fail("alloc");
    }
    off_t soff = strtoll(argv[4], 0, 0), doff = strtoll(argv[6], 0, 0);
    double t0 = now();
    for (size_t done = 0; done < total; done += chunk) {
      if (xfer(src, buf, chunk, soff + done, 0)) return fail("read");
      if (xfer(dst, buf, chunk, doff + done, 1)) return fail("write");
    }
    if (fdatasync(dst)) return fail("fdatasync");
    double s = now() - t0;
    printf("copied=%zu\nseconds=%.3f\nmbps=%.1f\n", total, s, total / s / 1e6);
    return 0;
  }
  if (argc >= 7 && !strcmp(argv[1], "verify")) {
    int a = open(argv[2], O_RDONLY | O_DIRECT), b = open(argv[4], O_RDONLY | O_DIRECT);
    if (a < 0 || b < 0) return fail("open");
    size_t total = strtoull(argv[6], 0, 0), chunk = 1 << 20;
    uint8_t *x, *y;
    if (posix_memalign((void **)&x, 4096, chunk) || posix_memalign((void **)&y, 4096, chunk)) return fail("alloc");
    off_t ao = strtoll(argv[3], 0, 0), bo = strtoll(argv[5], 0, 0);
    for (size_t done = 0; done < total; done += chunk) {
      if (xfer(a, x, chunk, ao + done, 0) || xfer(b, y, chunk, bo + done, 0)) return fail("verify read");
      if (memcmp(x, y, chunk)) {
        printf("verify=MISMATCH at=%zu\n", done);
        return 3;
      }
    }
    printf("verify=MATCH\n");
    return 0;
  }
  fprintf(stderr, "usage: see the comment at the top of nvme-copy.c\n");
  return 64;
}
