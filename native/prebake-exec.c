// prebake-exec: the last step of launching a function instance.
//
//   prebake-exec PROGRAM [ARGS...]
//
// Becomes a session leader (CRIU refuses a tree whose session leader lies outside its PID namespace),
// closes every fd above 4 (an fd inherited from whoever started prebake would be dumped into the image as
// an outside resource that no restore can provide), makes io_uring unavailable, then execs PROGRAM. libuv >= 1.45 (Node >= 22) opens an io_uring ring at
// start-up and CRIU cannot dump io_uring; when io_uring_setup fails with ENOSYS, libuv falls back to
// epoll, which CRIU handles. The seccomp filter is part of the dumped state, so restored clones keep it.
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define PREBAKE_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define PREBAKE_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#error "prebake-exec supports x86_64 and aarch64"
#endif

// io_uring's syscall numbers are the same on every architecture (425..427).
static int deny_io_uring(void) {
  struct sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PREBAKE_AUDIT_ARCH, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 425, 0, 2),
      BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, 427, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {.len = sizeof(filter) / sizeof(filter[0]), .filter = filter};
  return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: prebake-exec PROGRAM [ARGS...]\n");
    return 2;
  }
  if (setsid() < 0 && errno != EPERM) {  // EPERM: already a process group leader, keep going
    fprintf(stderr, "prebake-exec: setsid: %s\n", strerror(errno));
    return 126;
  }
  // fds 0-2 and the protocol's 3 and 4 stay (docs/PROTOCOL.md).
  if (syscall(SYS_close_range, 5U, ~0U, 0U) != 0) {
    fprintf(stderr, "prebake-exec: close_range: %s\n", strerror(errno));
    return 126;
  }
  if (deny_io_uring() != 0) {
    fprintf(stderr, "prebake-exec: seccomp: %s\n", strerror(errno));
    return 126;
  }
  execvp(argv[1], argv + 1);
  fprintf(stderr, "prebake-exec: cannot run %s: %s\n", argv[1], strerror(errno));
  return 127;
}
