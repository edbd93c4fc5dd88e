// What a restore's page fill costs on this host, without criu: reads a file (in the page cache) into fresh
// private anonymous mappings of CHUNK_KB each, as criu's restorer does with preadv, with or without
// MADV_HUGEPAGE on each mapping, and prints the best of 15 rounds for the fill and for the unmap that ends a
// clone. How docs/BENCHMARKS.md ("Huge pages for the page fill") measured a fault per 4 KiB page against huge
// pages; which huge page sizes a mapping gets is the host's THP setting (/sys/kernel/mm/transparent_hugepage).
//   gcc -O2 -o /tmp/page-fill scripts/page-fill.c
//   head -c 64M /dev/urandom >/tmp/fill.data
//   /tmp/page-fill /tmp/fill.data 0 256 200; /tmp/page-fill /tmp/fill.data 1 256 200   # 50 MB as 256 KiB mappings
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s FILE ADVISE(0|1) CHUNK_KB COUNT\n", argv[0]);
    return 2;
  }
  int fd = open(argv[1], O_RDONLY);
  int advise = atoi(argv[2]);
  size_t chunk = (size_t)atoi(argv[3]) << 10;
  int count = atoi(argv[4]);
  char **maps = calloc(count, sizeof(char *));
  char **bases = calloc(count, sizeof(char *));
  if (fd < 0 || chunk == 0 || count <= 0 || !maps || !bases) {
    perror("page-fill");
    return 1;
  }
  double best_fill = 1e9, best_unmap = 0;
  for (int round = 0; round < 15; round++) {
    double t0 = now_ms();
    for (int i = 0; i < count; i++) {
      // Twice the size, then aligned to it: V8 aligns its pages to their size, and a huge page needs alignment.
      bases[i] = mmap(NULL, chunk * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (bases[i] == MAP_FAILED) {
        perror("mmap");
        return 1;
      }
      maps[i] = (char *)(((unsigned long)bases[i] + chunk - 1) & ~(chunk - 1));
      if (advise) madvise(maps[i], chunk, MADV_HUGEPAGE);
      if (pread(fd, maps[i], chunk, (off_t)i * chunk) != (ssize_t)chunk) {
        fprintf(stderr, "%s is shorter than %d x %zu kB\n", argv[1], count, chunk >> 10);
        return 1;
      }
    }
    double t1 = now_ms();
    for (int i = 0; i < count; i++) munmap(bases[i], chunk * 2);
    double t2 = now_ms();
    if (t1 - t0 < best_fill) {
      best_fill = t1 - t0;
      best_unmap = t2 - t1;
    }
  }
  printf("advise %d: %d x %zu kB = %zu MB: fill %.2f ms, unmap %.2f ms (best of 15)\n", advise, count, chunk >> 10,
         (chunk * count) >> 20, best_fill, best_unmap);
  return 0;
}
