/*
 * bar-rw: read or write a PCI BAR from guest user space through sysfs (no driver bound).
 *   bar-rw <bdf> <bar> write32 <offset> <hex value>
 *   bar-rw <bdf> <bar> read32 <offset>
 *   bar-rw <bdf> <bar> write <offset> <text>        copies the bytes of <text>
 *   bar-rw <bdf> <bar> read <offset> <length>       prints them as text=<...>
 * Build: gcc -O2 -static -o bar-rw bar-rw.c
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: bar-rw <bdf> <bar> read32|write32|read|write <offset> [value|text|length]\n");
    return 64;
  }
  char path[256];
  snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/resource%s", argv[1], argv[2]);
  int fd = open(path, O_RDWR | O_SYNC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st)) {
    perror(path);
    return 2;
  }
  volatile uint8_t *bar = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (bar == MAP_FAILED) {
    perror("mmap");
    return 2;
  }
  size_t off = strtoul(argv[4], NULL, 0);
  if (!strcmp(argv[3], "write32") && argc > 5) {
    *(volatile uint32_t *)(bar + off) = (uint32_t)strtoul(argv[5], NULL, 16);
  } else if (!strcmp(argv[3], "read32")) {
    printf("value=0x%08x\n", *(volatile uint32_t *)(bar + off));
  } else if (!strcmp(argv[3], "write") && argc > 5) {
    size_t n = strlen(argv[5]);
    for (size_t i = 0; i < n; i++) bar[off + i] = (uint8_t)argv[5][i];
    msync((void *)bar, st.st_size, MS_SYNC);
    printf("wrote=%zu\n", n);
  } else if (!strcmp(argv[3], "read") && argc > 5) {
    size_t n = strtoul(argv[5], NULL, 0);
    printf("text=");
    for (size_t i = 0; i < n; i++) putchar(bar[off + i] >= 32 && bar[off + i] < 127 ? bar[off + i] : '.');
    putchar('\n');
  } else {
    fprintf(stderr, "bad command\n");
    return 64;
  }
  return 0;
}
