// What a page fault costs on this host: a restore fills every page of an image into fresh anonymous memory,
// so a host whose faults are slow (16.5 us per 4 KiB on one hypervisor against ~1.9 us on ours, issue 23)
// pays it on every prebaked start. Touches one byte per 4 KiB of MB fresh private anonymous megabytes, then
// of a region advised MADV_HUGEPAGE (aligned to 2 MiB, as the patched criu's fill), and prints the best of
// three rounds of each, in microseconds per 4 KiB:
//   page-fault-probe [MB]   (default 8)  ->  "4k 1.93 huge 0.41"
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#define PAGE 4096UL
#define HUGE (2UL << 20)
#define ROUNDS 3

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

// Microseconds per 4 KiB page to fault in `bytes` of fresh memory; negative when mmap fails.
static double touch(size_t bytes, int advise) {
  char *base = mmap(NULL, bytes + HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) return -1;
  char *region = (char *)(((unsigned long)base + HUGE - 1) & ~(HUGE - 1));
  if (advise) madvise(region, bytes, MADV_HUGEPAGE);
  double start = now_us();
  for (size_t at = 0; at < bytes; at += PAGE) ((volatile char *)region)[at] = 1;
  double took = now_us() - start;
  munmap(base, bytes + HUGE);
  return took / (bytes / PAGE);
}

int main(int argc, char **argv) {
  long mb = argc > 1 ? atol(argv[1]) : 8;
  if (mb <= 0 || mb > 1024) {
    fprintf(stderr, "usage: %s [MB 1..1024]\n", argv[0]);
    return 2;
  }
  size_t bytes = (size_t)mb << 20;
  double best[2] = {1e9, 1e9};
  for (int round = 0; round < ROUNDS; round++) {
    for (int advise = 0; advise < 2; advise++) {
      double us = touch(bytes, advise);
      if (us < 0) {
        perror("mmap");
        return 1;
      }
      if (us < best[advise]) best[advise] = us;
    }
  }
  printf("4k %.2f huge %.2f\n", best[0], best[1]);
  return 0;
}
