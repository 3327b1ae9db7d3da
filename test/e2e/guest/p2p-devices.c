/*
 * p2p-devices: a userspace driver for the p2pkit GPU and NIC stubs (packages/devices), run as root
 * in the guest. BARs are mapped through sysfs resource files; bus addresses of p2pmem pages come
 * from /proc/self/pagemap (p2pmem bus address = CPU physical address on q35); the caller enables
 * memory decode and bus mastering beforehand (sysfs enable, setpci COMMAND). Completions are polled
 * from registers and descriptors: MSI-X cannot reach a process without VFIO, and none is needed.
 *
 *   p2p-devices gpu <gpu-bdf> <p2pmem/allocate> <src-dev> <src-off> <dst-dev> <dst-off> <bytes> <kernel> <arg>
 *       src-dev → p2pmem (O_DIRECT) → VRAM (copy engine) → COMPUTE kernel <kernel> over VRAM
 *       → p2pmem (copy engine) → dst-dev (O_DIRECT); descriptors live in p2pmem too
 *   p2p-devices check-add <src-dev> <src-off> <dst-dev> <dst-off> <bytes> <arg>
 *       reads both through host memory: dst must be src with <arg> added to every byte (kernel 1)
 *   p2p-devices nic-rx <nic-bdf> <p2pmem/allocate> <bdf> <bar> <offset> <frames> <frame-bytes>
 *       posts <frames> RX buffers in BAR <bar> of <bdf> (a PMR), ring in p2pmem; waits for them to fill
 *   p2p-devices nic-tx <nic-bdf> <p2pmem/allocate> <src-dev> <src-off> <bytes> <frame-bytes>
 *       src-dev → p2pmem (O_DIRECT), then transmits the bytes straight from p2pmem
 *   p2p-devices pmr <nvme-bdf> enable|disable      PMRCTL.EN through BAR0, prints PMRSTS
 *   p2p-devices dump <bdf> <bar> <offset> <length>  BAR bytes to stdout
 * Prints key=value lines; exit 2 on a system error, 3 on a data mismatch, 4 on a timeout.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
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

/* ---- sysfs BARs, p2pmem, pagemap ---- */

static volatile uint8_t *map_bar(const char *bdf, int bar, size_t *size) {
  char path[256];
  snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/resource%d", bdf, bar);
  int fd = open(path, O_RDWR | O_SYNC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st)) fail(path);
  void *p = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) fail("mmap bar");
  if (size) *size = st.st_size;
  return p;
}

/* Bus address of BAR <bar>: line <bar> of the sysfs resource file ("start end flags"). */
static uint64_t bar_address(const char *bdf, int bar) {
  char path[256], line[256];
  snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/resource", bdf);
  FILE *f = fopen(path, "r");
  if (!f) fail(path);
  for (int i = 0; i <= bar; i++)
    if (!fgets(line, sizeof line, f)) fail("resource line");
  fclose(f);
  return strtoull(line, NULL, 16);
}

static uint8_t *p2pmem(const char *allocate, size_t bytes) {
  int fd = open(allocate, O_RDWR);
  if (fd < 0) fail("open p2pmem");
  void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) fail("mmap p2pmem");
  return p;
}

/* #region pagemap */
/* Bus address behind a mapped page, from /proc/self/pagemap (PFN bits 54:0; root sees them). */
static uint64_t bus_address(volatile void *va) {
  static int fd = -1;
  if (fd < 0 && (fd = open("/proc/self/pagemap", O_RDONLY)) < 0) fail("open pagemap");
  uint64_t entry;
  (void)*(volatile uint8_t *)va; /* make sure the page is mapped */
  if (pread(fd, &entry, 8, ((uintptr_t)va / 4096) * 8) != 8) fail("read pagemap");
  if (!(entry >> 63) || !(entry & ((1ULL << 55) - 1))) {
    errno = EFAULT;
    fail("pagemap: page not present or PFN hidden");
  }
  return (entry & ((1ULL << 55) - 1)) * 4096 + ((uintptr_t)va & 4095);
}
/* #endregion pagemap */

/* Bus address of a p2pmem buffer, checked to be one contiguous range (the allocator hands out one). */
static uint64_t contiguous_bus(uint8_t *buf, size_t bytes) {
  uint64_t base = bus_address(buf);
  for (size_t off = 4096; off < bytes; off += 4096)
    if (bus_address(buf + off) != base + off) {
      errno = EFAULT;
      fail("p2pmem buffer not contiguous");
    }
  return base;
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

#define R32(b, o) (*(volatile uint32_t *)((b) + (o)))
#define W32(b, o, v) (*(volatile uint32_t *)((b) + (o)) = (v))
#define W64(b, o, v) (W32(b, o, (uint32_t)(v)), W32(b, (o) + 4, (uint32_t)((uint64_t)(v) >> 32)))

/* Polls until reg(off) == want (or 120 s). */
static void wait_reg(volatile uint8_t *regs, size_t off, uint32_t want, const char *what) {
  double deadline = now() + 120;
  while (R32(regs, off) != want) {
    if (now() > deadline) {
      printf("timeout=%s\nvalue=%u\nwant=%u\n", what, R32(regs, off), want);
      exit(4);
    }
    usleep(1000);
  }
}

/* ---- GPU: queue registers and 64-byte descriptors (packages/devices/src/gpu-engine.ts) ---- */
enum { Q_BASE = 0x80, Q_SIZE = 0x88, Q_HEAD = 0x8c, Q_TAIL = 0x90, Q_DONE = 0x98, Q_ERRORS = 0x9c };
struct gpu_desc {
  uint32_t op, flags;
  uint64_t src, dst;
  uint32_t length, kernel;
  uint64_t arg0, arg1;
  uint32_t status, result;
  uint64_t reserved;
};

static int gpu(char **a) {
  const char *bdf = a[0], *alloc = a[1], *src = a[2], *dst = a[4];
  off_t soff = strtoll(a[3], 0, 0), doff = strtoll(a[5], 0, 0);
  size_t bytes = strtoull(a[6], 0, 0);
  uint32_t kernel = strtoul(a[7], 0, 0);
  uint8_t arg = strtoul(a[8], 0, 0);
  volatile uint8_t *regs = map_bar(bdf, 0, NULL);
  uint64_t vram = bar_address(bdf, 2);
  uint8_t *buf = p2pmem(alloc, bytes + MiB); /* payload, then the descriptor ring */
  uint64_t bus = contiguous_bus(buf, bytes + MiB);
  volatile struct gpu_desc *ring = (volatile struct gpu_desc *)(buf + bytes);
  printf("vram=0x%llx\np2pmem_bus=0x%llx\n", (unsigned long long)vram, (unsigned long long)bus);
  double t0 = now();
  direct_io(src, buf, bytes, soff, 0);
  double t1 = now();
  struct gpu_desc d[3] = {
      {.op = 1, .src = bus, .dst = vram, .length = bytes},               /* COPY p2pmem → VRAM */
      {.op = 2, .src = 0, .length = bytes, .kernel = kernel, .arg0 = arg}, /* COMPUTE over VRAM[0, bytes) */
      {.op = 1, .flags = 1, .src = vram, .dst = bus, .length = bytes},   /* COPY VRAM → p2pmem, IRQ */
  };
  for (int i = 0; i < 3; i++) ring[i] = d[i];
  W64(regs, Q_BASE, bus + bytes);
  W32(regs, Q_SIZE, 8);
  W32(regs, Q_TAIL, 3);
  wait_reg(regs, Q_HEAD, 3, "gpu queue");
  double t2 = now();
  for (int i = 0; i < 3; i++) printf("desc%d_status=%u\n", i, ring[i].status);
  printf("compute_result=%u\nqueue_errors=%u\n", ring[1].result, R32(regs, Q_ERRORS));
  direct_io(dst, buf, bytes, doff, 1);
  double t3 = now();
  printf("seconds_read=%.3f\nseconds_gpu=%.3f\nseconds_write=%.3f\n", t1 - t0, t2 - t1, t3 - t2);
  return 0;
}

/* Checks through host memory, after the fact, that dst is src with arg added to every byte. */
static int check_add(char **a) {
  const char *src = a[0], *dst = a[2];
  off_t soff = strtoll(a[1], 0, 0), doff = strtoll(a[3], 0, 0);
  size_t bytes = strtoull(a[4], 0, 0);
  uint8_t arg = strtoul(a[5], 0, 0);
  uint8_t *x, *y;
  if (posix_memalign((void **)&x, 4096, MiB) || posix_memalign((void **)&y, 4096, MiB)) fail("alloc");
  uint32_t sum = 0;
  for (size_t done = 0; done < bytes; done += MiB) {
    direct_io(src, x, MiB, soff + done, 0);
    direct_io(dst, y, MiB, doff + done, 0);
    for (size_t i = 0; i < MiB; i++) {
      uint8_t want = (uint8_t)(x[i] + arg);
      sum += want;
      if (y[i] != want) {
        printf("verify=MISMATCH\nat=%zu\ngot=%u\nwant=%u\n", done + i, y[i], want);
        return 3;
      }
    }
  }
  printf("expected_sum=%u\nverify=MATCH\n", sum);
  return 0;
}

/* ---- NIC: ring registers and 16-byte descriptors (packages/devices/src/nic-regs.ts) ---- */
enum { TX_BASE = 0x20, TX_SIZE = 0x28, TX_HEAD = 0x2c, TX_TAIL = 0x30, RX_BASE = 0x40, RX_SIZE = 0x48, RX_HEAD = 0x4c,
       RX_TAIL = 0x50, TX_FRAMES = 0x60, RX_FRAMES = 0x64, RX_DROPPED = 0x68, TX_ERRORS = 0x6c, LINK = 0x10 };
struct nic_desc {
  uint64_t addr;
  uint16_t length, flags;
  uint32_t reserved;
};

static int nic_rx(char **a) {
  volatile uint8_t *regs = map_bar(a[0], 0, NULL);
  uint64_t target = bar_address(a[2], atoi(a[3])) + strtoull(a[4], 0, 0);
  uint32_t frames = strtoul(a[5], 0, 0), size = strtoul(a[6], 0, 0);
  uint8_t *ringmem = p2pmem(a[1], 64 * 1024);
  volatile struct nic_desc *ring = (volatile struct nic_desc *)ringmem;
  for (uint32_t i = 0; i < frames; i++) ring[i] = (struct nic_desc){.addr = target + (uint64_t)i * size, .length = size};
  printf("link=%u\nrx_target=0x%llx\n", R32(regs, LINK), (unsigned long long)target);
  fflush(stdout);
  W64(regs, RX_BASE, contiguous_bus(ringmem, 64 * 1024));
  W32(regs, RX_SIZE, frames + 1); /* a ring of N holds N - 1 */
  W32(regs, RX_TAIL, frames);     /* the host side sees this and lets the outside process send */
  wait_reg(regs, RX_HEAD, frames, "nic rx");
  uint64_t total = 0;
  for (uint32_t i = 0; i < frames; i++) {
    if (ring[i].flags != 1) printf("rx%u_flags=%u\n", i, ring[i].flags);
    total += ring[i].length;
  }
  printf("rx_frames=%u\nrx_bytes=%llu\nrx_dropped=%u\n", R32(regs, RX_FRAMES), (unsigned long long)total, R32(regs, RX_DROPPED));
  return 0;
}

static int nic_tx(char **a) {
  volatile uint8_t *regs = map_bar(a[0], 0, NULL);
  off_t soff = strtoll(a[3], 0, 0);
  size_t bytes = strtoull(a[4], 0, 0), size = strtoull(a[5], 0, 0);
  uint32_t frames = (bytes + size - 1) / size;
  size_t ring_bytes = ((frames + 1) * sizeof(struct nic_desc) + 4095) & ~4095UL;
  uint8_t *buf = p2pmem(a[1], bytes + ring_bytes);
  uint64_t bus = contiguous_bus(buf, bytes + ring_bytes);
  volatile struct nic_desc *ring = (volatile struct nic_desc *)(buf + bytes);
  direct_io(a[2], buf, bytes, soff, 0); /* NVMe → CMB */
  for (uint32_t i = 0; i < frames; i++) {
    size_t n = bytes - (size_t)i * size < size ? bytes - (size_t)i * size : size;
    ring[i] = (struct nic_desc){.addr = bus + (uint64_t)i * size, .length = n};
  }
  double t0 = now();
  W64(regs, TX_BASE, bus + bytes);
  W32(regs, TX_SIZE, frames + 1);
  W32(regs, TX_TAIL, frames);
  wait_reg(regs, TX_HEAD, frames, "nic tx");
  uint32_t bad = 0;
  for (uint32_t i = 0; i < frames; i++) bad += ring[i].flags != 1;
  printf("tx_frames=%u\ntx_errors=%u\nbad_descriptors=%u\nseconds=%.3f\n", R32(regs, TX_FRAMES), R32(regs, TX_ERRORS), bad, now() - t0);
  return bad ? 3 : 0;
}

/* ---- NVMe PMR (PMRCTL 0xe04, PMRSTS 0xe08) and BAR dumps ---- */
static int pmr(char **a) {
  volatile uint8_t *regs = map_bar(a[0], 0, NULL);
  W32(regs, 0xe04, strcmp(a[1], "enable") == 0 ? 1 : 0);
  printf("pmrsts=0x%x\n", R32(regs, 0xe08)); /* reading PMRSTS also orders earlier writes to the PMR */
  return 0;
}

static int dump(char **a) {
  size_t size, off = strtoull(a[2], 0, 0), len = strtoull(a[3], 0, 0);
  volatile uint8_t *bar = map_bar(a[0], atoi(a[1]), &size);
  if (off + len > size) {
    errno = EINVAL;
    fail("dump range");
  }
  for (size_t done = 0; done < len;) {
    uint8_t chunk[65536];
    size_t n = len - done < sizeof chunk ? len - done : sizeof chunk;
    memcpy(chunk, (const void *)(bar + off + done), n); /* prefetchable memory: plain loads are fine */
    if (fwrite(chunk, 1, n, stdout) != n) fail("write");
    done += n;
  }
  return 0;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc == 11 && !strcmp(argv[1], "gpu")) return gpu(argv + 2);
  if (argc == 8 && !strcmp(argv[1], "check-add")) return check_add(argv + 2);
  if (argc == 9 && !strcmp(argv[1], "nic-rx")) return nic_rx(argv + 2);
  if (argc == 8 && !strcmp(argv[1], "nic-tx")) return nic_tx(argv + 2);
  if (argc == 4 && !strcmp(argv[1], "pmr")) return pmr(argv + 2);
  if (argc == 6 && !strcmp(argv[1], "dump")) return dump(argv + 2);
  fprintf(stderr, "usage: see the comment at the top of p2p-devices.c\n");
  return 64;
}
