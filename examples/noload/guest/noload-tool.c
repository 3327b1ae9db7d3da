/*
 * noload-tool: the guest side of the NoLoad example (examples/noload).
 *   noload-tool crc32c <file> [length]
 *       CRC-32C (Castagnoli) of the file's first <length> bytes (default: all): crc32c=0x...
 *   noload-tool pipeline <noload-bdf> <p2pmem/allocate> <ng-char-dev> <src-dev> <src-off> <dst-dev> <dst-off> <bytes> [format]
 *       drive B → NoLoad's CMB (O_DIRECT read into p2pmem) → compress in the NoLoad (a no-data vendor
 *       command naming CMB offsets, NVME_IOCTL_IO64_CMD on the generic char device) → CMB → drive B
 *       (O_DIRECT write). The payload never touches host memory. Prints compressed=, crc32c= (DW1)
 *       and the CMB offsets.
 * CMB offsets are bus addresses of the p2pmem pages (/proc/self/pagemap, root) minus BAR2's start.
 * Prints key=value lines; exit 2 on a system error, 3 on a command error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/nvme_ioctl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MiB (1UL << 20)
static int fail(const char *what) {
  printf("error=%s\nerrno=%d (%s)\n", what, errno, strerror(errno));
  exit(2);
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static uint32_t crc_table[256];
static uint32_t crc32c(uint32_t crc, const uint8_t *p, size_t n) {
  if (!crc_table[1])
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0x82f63b78 : c >> 1;
      crc_table[i] = c;
    }
  crc = ~crc;
  while (n--) crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return ~crc;
}

static int crc_file(const char *path, long long limit) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) fail(path);
  uint8_t buf[65536];
  uint32_t crc = 0;
  long long total = 0;
  for (;;) {
    size_t want = sizeof buf;
    if (limit >= 0 && limit - total < (long long)want) want = limit - total;
    ssize_t n = want ? read(fd, buf, want) : 0;
    if (n < 0) fail("read");
    if (n == 0) break;
    crc = crc32c(crc, buf, n);
    total += n;
  }
  printf("crc32c=0x%08x\nbytes=%lld\n", crc, total);
  return 0;
}

/* Bus address behind a mapped page, from /proc/self/pagemap (PFN bits 54:0). */
static uint64_t bus_address(volatile void *va) {
  static int fd = -1;
  if (fd < 0 && (fd = open("/proc/self/pagemap", O_RDONLY)) < 0) fail("open pagemap");
  uint64_t entry;
  (void)*(volatile uint8_t *)va;
  if (pread(fd, &entry, 8, ((uintptr_t)va / 4096) * 8) != 8) fail("read pagemap");
  if (!(entry >> 63) || !(entry & ((1ULL << 55) - 1))) {
    errno = EFAULT;
    fail("pagemap: page not present or PFN hidden");
  }
  return (entry & ((1ULL << 55) - 1)) * 4096 + ((uintptr_t)va & 4095);
}

static uint64_t bar2_start(const char *bdf) {
  char path[256], line[256];
  snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/resource", bdf);
  FILE *f = fopen(path, "r");
  if (!f) fail(path);
  for (int i = 0; i <= 2; i++)
    if (!fgets(line, sizeof line, f)) fail("resource line");
  fclose(f);
  return strtoull(line, NULL, 16);
}

static void direct_io(const char *dev, uint8_t *buf, size_t bytes, off_t off, int write) {
  int fd = open(dev, (write ? O_WRONLY : O_RDONLY) | O_DIRECT);
  if (fd < 0) fail(dev);
  for (size_t done = 0; done < bytes; done += MiB) {
    size_t n = bytes - done < MiB ? bytes - done : MiB;
    ssize_t r = write ? pwrite(fd, buf + done, n, off + done) : pread(fd, buf + done, n, off + done);
    if (r != (ssize_t)n) fail(write ? "O_DIRECT write" : "O_DIRECT read");
  }
  if (write && fdatasync(fd)) fail("fdatasync");
  close(fd);
}

static int pipeline(char **a) {
  const char *bdf = a[0], *alloc = a[1], *ng = a[2], *src = a[3], *dst = a[5];
  off_t soff = strtoll(a[4], 0, 0), doff = strtoll(a[6], 0, 0);
  size_t bytes = strtoull(a[7], 0, 0);
  unsigned format = a[8] ? strtoul(a[8], 0, 0) : 0;
  int p = open(alloc, O_RDWR);
  if (p < 0) fail("open p2pmem");
  uint8_t *buf = mmap(NULL, 2 * bytes, PROT_READ | PROT_WRITE, MAP_SHARED, p, 0); /* input, then output */
  if (buf == MAP_FAILED) fail("mmap p2pmem");
  uint64_t cmb = bar2_start(bdf);
  uint64_t in = bus_address(buf) - cmb, out = bus_address(buf + bytes) - cmb;
  for (size_t off = 4096; off < 2 * bytes; off += 4096)
    if (bus_address(buf + off) != cmb + in + off) {
      errno = EFAULT;
      fail("p2pmem buffer not contiguous");
    }
  printf("cmb_in=0x%llx\ncmb_out=0x%llx\n", (unsigned long long)in, (unsigned long long)out);
  double t0 = now();
  direct_io(src, buf, bytes, soff, 0); /* drive B → CMB */
  double t1 = now();
  int fd = open(ng, O_RDWR);
  if (fd < 0) fail(ng);
  struct nvme_passthru_cmd64 cmd = {
      .opcode = 0x84, /* compress, no data pointer: CMB → CMB */
      .nsid = 1,
      .cdw10 = (uint32_t)in,
      .cdw11 = (uint32_t)(in >> 32),
      .cdw12 = (uint32_t)bytes,
      .cdw13 = 1 | 1 << 4 | (format & 3) << 8, /* source CMB, destination CMB */
      .cdw14 = (uint32_t)out,
      .cdw15 = (uint32_t)bytes,
      .timeout_ms = 60000,
  };
  int status = ioctl(fd, NVME_IOCTL_IO64_CMD, &cmd);
  if (status < 0) fail("NVME_IOCTL_IO64_CMD");
  double t2 = now();
  uint32_t compressed = (uint32_t)cmd.result, crc = (uint32_t)(cmd.result >> 32);
  printf("status=0x%x\ncompressed=%u\ncrc32c=0x%08x\n", status, compressed, crc);
  if (status) return 3;
  size_t padded = (compressed + 4095) & ~4095UL;
  direct_io(dst, buf + bytes, padded, doff, 1); /* CMB → drive B */
  double t3 = now();
  printf("seconds_read=%.3f\nseconds_compress=%.3f\nseconds_write=%.3f\n", t1 - t0, t2 - t1, t3 - t2);
  return 0;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if ((argc == 3 || argc == 4) && !strcmp(argv[1], "crc32c")) return crc_file(argv[2], argc == 4 ? strtoll(argv[3], 0, 0) : -1);
  if ((argc == 10 || argc == 11) && !strcmp(argv[1], "pipeline")) return pipeline(argv + 2);
  fprintf(stderr, "usage: see the comment at the top of noload-tool.c\n");
  return 64;
}
