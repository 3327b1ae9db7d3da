/*
 * Guest side of the hello-endpoint scenario (no kernel driver needed):
 *   hello-dma <bdf> scratch-write <hex>   write SCRATCH through BAR0 (resource0 mmap)
 *   hello-dma <bdf> scratch-read          print SCRATCH
 *   hello-dma <bdf> copy <bytes>          enable bus mastering, let the device copy a page of guest
 *                                         memory to another page (physical addresses from
 *                                         /proc/self/pagemap), verify it with the CPU
 * Output is key=value lines. Build: gcc -O2 -static -o hello-dma hello-dma.c
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

enum { SCRATCH = 0x00, SRC = 0x08, DST = 0x10, LEN = 0x18, CTRL = 0x1c, STATUS = 0x20, COPIES = 0x24 };

static volatile uint8_t *bar;
static uint32_t rd32(int off) { return *(volatile uint32_t *)(bar + off); }
static void wr32(int off, uint32_t v) { *(volatile uint32_t *)(bar + off) = v; }
static void wr64(int off, uint64_t v) { wr32(off, (uint32_t)v); wr32(off + 4, (uint32_t)(v >> 32)); }

static int die(const char *what) {
  printf("error=%s: %s\n", what, strerror(errno));
  return 1;
}

static uint64_t phys_of(void *p) {
  uint64_t entry = 0;
  int fd = open("/proc/self/pagemap", O_RDONLY);
  if (fd < 0) return 0;
  off_t off = ((uintptr_t)p / 4096) * 8;
  if (pread(fd, &entry, 8, off) != 8) entry = 0;
  close(fd);
  if (!(entry & (1ULL << 63))) return 0; /* not present */
  return (entry & ((1ULL << 55) - 1)) * 4096 + ((uintptr_t)p & 4095);
}

static int enable_bus_master(const char *bdf) {
  char path[256];
  snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/config", bdf);
  int fd = open(path, O_RDWR);
  if (fd < 0) return -1;
  uint16_t cmd = 0;
  if (pread(fd, &cmd, 2, 4) != 2) return -1;
  cmd |= 0x6; /* memory space + bus master */
  int ok = pwrite(fd, &cmd, 2, 4) == 2;
  close(fd);
  return ok ? 0 : -1;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: hello-dma <bdf> scratch-write <hex> | scratch-read | copy <bytes>\n");
    return 2;
  }
  char path[256];
  snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/resource0", argv[1]);
  int fd = open(path, O_RDWR | O_SYNC);
  if (fd < 0) return die("open resource0");
  bar = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (bar == MAP_FAILED) return die("mmap resource0");

  if (!strcmp(argv[2], "scratch-write") && argc > 3) {
    wr32(SCRATCH, (uint32_t)strtoul(argv[3], NULL, 16));
    printf("wrote=0x%08x\n", (uint32_t)strtoul(argv[3], NULL, 16));
    return 0;
  }
  if (!strcmp(argv[2], "scratch-read")) {
    printf("scratch=0x%08x\n", rd32(SCRATCH));
    return 0;
  }
  if (!strcmp(argv[2], "copy") && argc > 3) {
    size_t n = strtoul(argv[3], NULL, 0);
    if (n == 0 || n > 4096) n = 4096;
    if (enable_bus_master(argv[1])) return die("enable bus master");
    uint8_t *src = aligned_alloc(4096, 4096), *dst = aligned_alloc(4096, 4096);
    if (!src || !dst || mlock(src, 4096) || mlock(dst, 4096)) return die("lock buffers");
    srand((unsigned)time(NULL));
    for (size_t i = 0; i < 4096; i++) src[i] = (uint8_t)rand();
    memset(dst, 0, 4096);
    uint64_t ps = phys_of(src), pd = phys_of(dst);
    if (!ps || !pd) return die("pagemap");
    printf("src_phys=0x%llx\ndst_phys=0x%llx\n", (unsigned long long)ps, (unsigned long long)pd);
    uint32_t copies = rd32(COPIES);
    wr64(SRC, ps);
    wr64(DST, pd);
    wr32(LEN, (uint32_t)n);
    wr32(CTRL, 1);
    uint32_t st = 0;
    for (int i = 0; i < 5000; i++) { /* up to ~5 s */
      st = rd32(STATUS);
      if (st & 6) break;
      usleep(1000);
    }
    printf("status=%u\ncopies_delta=%u\n", st, rd32(COPIES) - copies);
    printf("compare=%s\n", memcmp(src, dst, n) == 0 ? "MATCH" : "MISMATCH");
    printf("tail_untouched=%s\n", n == 4096 || dst[n] == 0 ? "yes" : "no");
    return (st & 2) && memcmp(src, dst, n) == 0 ? 0 : 1;
  }
  fprintf(stderr, "unknown command %s\n", argv[2]);
  return 2;
}
