/*
 * p2p-copy: copy a block range between two NVMe namespaces through a peer's p2pmem buffer
 * (mmap of /sys/bus/pci/devices/<bdf>/p2pmem/allocate) with O_DIRECT, and verify the data.
 *
 *   p2p-copy <p2pmem/allocate> <src-blockdev> <dst-blockdev> <bytes> [seed] [src-offset] [dst-offset]
 *
 * Steps (each prints one `key=value` line; the host test asserts on them):
 *   1. seed:    write a pseudo-random pattern to src through host RAM (O_DIRECT)
 *   2. map:     mmap the p2p buffer (MAP_SHARED, offset 0) and clear it with the CPU
 *   3. read:    O_DIRECT pread src -> p2p buffer   (src device DMA-writes the provider's BAR)
 *   4. cmp_p2p: compare the p2p buffer with the pattern using the CPU
 *   5. write:   O_DIRECT pwrite p2p buffer -> dst  (dst device DMA-reads the provider's BAR)
 *   6. cmp_dst: read dst back through host RAM and compare
 * Exit status: 0 when everything matched, 2 when an I/O step failed (errno printed), 3 on mismatch.
 * Built on the host with `gcc -O2 -static` by @p2pkit/testbed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void fill(uint8_t *p, size_t n, uint64_t seed) {
  uint64_t x = seed ? seed : 0x9e3779b97f4a7c15ull;
  for (size_t i = 0; i < n; i += 8) {
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    memcpy(p + i, &x, n - i < 8 ? n - i : 8);
  }
}

static int fail(const char *step, int err) {
  printf("%s=error errno=%d (%s)\n", step, err, strerror(err));
  fflush(stdout);
  return 2;
}

static long first_diff(const uint8_t *a, const uint8_t *b, size_t n) {
  for (size_t i = 0; i < n; i++) if (a[i] != b[i]) return (long)i;
  return -1;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: %s <p2pmem/allocate> <src> <dst> <bytes> [seed] [src-off] [dst-off]\n", argv[0]);
    return 64;
  }
  size_t n = strtoull(argv[4], NULL, 0);
  uint64_t seed = argc > 5 ? strtoull(argv[5], NULL, 0) : 1;
  off_t soff = argc > 6 ? (off_t)strtoull(argv[6], NULL, 0) : 0;
  off_t doff = argc > 7 ? (off_t)strtoull(argv[7], NULL, 0) : 0;
  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("bytes=%zu src=%s dst=%s src_off=%lld dst_off=%lld\n", n, argv[2], argv[3], (long long)soff, (long long)doff);

  uint8_t *pattern, *check;
  if (posix_memalign((void **)&pattern, 4096, n) || posix_memalign((void **)&check, 4096, n)) return fail("alloc", ENOMEM);
  fill(pattern, n, seed);

  int src = open(argv[2], O_RDWR | O_DIRECT);
  if (src < 0) return fail("open_src", errno);
  int dst = open(argv[3], O_RDWR | O_DIRECT);
  if (dst < 0) return fail("open_dst", errno);

  if (pwrite(src, pattern, n, soff) != (ssize_t)n) return fail("seed", errno);
  printf("seed=ok\n");

  int pfd = open(argv[1], O_RDWR);
  if (pfd < 0) return fail("map", errno);
  uint8_t *p2p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED, pfd, 0);
  if (p2p == MAP_FAILED) return fail("map", errno);
  memset(p2p, 0, n);
  printf("map=ok\n");

  ssize_t r = pread(src, p2p, n, soff);
  if (r != (ssize_t)n) return fail("read", r < 0 ? errno : EIO);
  printf("read=ok\n");

  long d = first_diff(p2p, pattern, n);
  printf("cmp_p2p=%s", d < 0 ? "MATCH\n" : "MISMATCH");
  if (d >= 0) { printf(" at=%ld\n", d); return 3; }

  r = pwrite(dst, p2p, n, doff);
  if (r != (ssize_t)n) return fail("write", r < 0 ? errno : EIO);
  printf("write=ok\n");

  memset(check, 0, n);
  if (pread(dst, check, n, doff) != (ssize_t)n) return fail("verify_read", errno);
  d = first_diff(check, pattern, n);
  printf("cmp_dst=%s", d < 0 ? "MATCH\n" : "MISMATCH");
  if (d >= 0) { printf(" at=%ld\n", d); return 3; }

  munmap(p2p, n);
  close(pfd);
  printf("result=PASS\n");
  return 0;
}
