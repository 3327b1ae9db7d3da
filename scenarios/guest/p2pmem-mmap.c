/*
 * p2pmem-mmap <p2pmem-dir> <bytes>: what the kernel's p2pmem/allocate file does with mmap(2).
 * Prints key=value lines:
 *   available_before      bytes in the pool before mapping
 *   map                   ok | error errno=N   (MAP_SHARED, offset 0, <bytes>)
 *   available_mapped      bytes left while mapped (allocation happens at mmap time)
 *   pattern               MATCH | MISMATCH   (CPU writes then reads every page through the mapping)
 *   available_after       bytes after munmap (the pages went back to the pool)
 *   private               refused errno=N | ok   (MAP_PRIVATE must be refused)
 *   offset                refused errno=N | ok   (a non-zero file offset must be refused)
 *   overcommit            refused errno=N | ok   (more than the pool holds)
 * Exit 0 when every line was printed, 2 when a setup step failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static long long available(const char *dir) {
  char path[512];
  snprintf(path, sizeof path, "%s/available", dir);
  FILE *f = fopen(path, "r");
  long long v = -1;
  if (f) {
    if (fscanf(f, "%lld", &v) != 1) v = -1;
    fclose(f);
  }
  return v;
}

static void try_map(const char *key, int fd, size_t len, int flags, off_t off) {
  void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, fd, off);
  if (p == MAP_FAILED) {
    printf("%s=refused errno=%d\n", key, errno);
  } else {
    printf("%s=ok\n", key);
    munmap(p, len);
  }
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s <p2pmem-dir> <bytes>\n", argv[0]);
    return 2;
  }
  const char *dir = argv[1];
  size_t len = strtoull(argv[2], NULL, 0);
  char path[512];
  snprintf(path, sizeof path, "%s/allocate", dir);
  int fd = open(path, O_RDWR);
  if (fd < 0) {
    printf("open=error errno=%d\n", errno);
    return 2;
  }
  long long before = available(dir);
  printf("available_before=%lld\n", before);
  uint64_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    printf("map=error errno=%d\n", errno);
    return 2;
  }
  printf("map=ok\n");
  printf("available_mapped=%lld\n", available(dir));
  size_t words = len / sizeof *p;
  for (size_t i = 0; i < words; i++) p[i] = 0x9e3779b97f4a7c15ull * (i + 1);
  int same = 1;
  for (size_t i = 0; i < words && same; i++) same = p[i] == 0x9e3779b97f4a7c15ull * (i + 1);
  printf("pattern=%s\n", same ? "MATCH" : "MISMATCH");
  munmap(p, len);
  printf("available_after=%lld\n", available(dir));
  try_map("private", fd, len, MAP_PRIVATE, 0);
  try_map("offset", fd, len, MAP_SHARED, 4096);
  try_map("overcommit", fd, (size_t)before + (2u << 20), MAP_SHARED, 0);
  close(fd);
  return 0;
}
