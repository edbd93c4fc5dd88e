// Whether an x86 hardware breakpoint set through ptrace stops a traced task, the way criu's compel stops a task
// leaving its parasite or restorer: PTRACE_POKEUSER of the address into DR0 and of "local enable" into DR7.
// Some hypervisors accept the write and never deliver the trap; criu then waits for ever (issue 23).
// A forked child stops for its parent, which sets the breakpoint on a function the child then calls and
// exits after. So the answer is one of two events, the trap or the exit; the deadline only bounds a child that
// is not scheduled at all. Prints one line and exits:
//   0 "working"        the child stopped with SIGTRAP at the breakpoint
//   1 "ran-past"       the child ran through the breakpoint and exited
//   2 "refused ERRNO"  the kernel refused POKEUSER on a debug register
//   3 "no-answer MS"   neither within the deadline (a busy host): undecided
//   4 "error WHAT"     the probe itself failed (fork, ptrace attach)
//   breakpoint-probe [DEADLINE_MS]   (default 50)
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if !defined(__x86_64__)
int main(void) {
  printf("error not x86-64: criu sets no debug registers here\n");
  return 4;
}
#else

// noinline and a side effect: the call must happen at this address.
__attribute__((noinline)) static void target(void) {
  __asm__ volatile("" ::: "memory");
}

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int finish(pid_t child, int code, const char *fmt, const char *detail) {
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  printf(fmt, detail);
  printf("\n");
  return code;
}

int main(int argc, char **argv) {
  double deadline_ms = argc > 1 ? atof(argv[1]) : 50;
  if (deadline_ms <= 0) deadline_ms = 50;
  pid_t child = fork();
  if (child < 0) {
    printf("error fork: %s\n", strerror(errno));
    return 4;
  }
  if (child == 0) {
    if (ptrace(PTRACE_TRACEME, 0, 0, 0) != 0) _exit(9);
    raise(SIGSTOP);
    target();
    _exit(0);
  }
  int status;
  if (waitpid(child, &status, 0) != child || !WIFSTOPPED(status) || WSTOPSIG(status) != SIGSTOP) {
    return finish(child, 4, "error %s", "the child did not stop for tracing");
  }
  // The same values compel writes (compel/arch/x86/src/lib/infect.c, ptrace_set_breakpoint): DR7 = 1 is L0,
  // an execute breakpoint of length 1 on DR0.
  if (ptrace(PTRACE_POKEUSER, child, offsetof(struct user, u_debugreg[0]), (void *)&target) != 0 ||
      ptrace(PTRACE_POKEUSER, child, offsetof(struct user, u_debugreg[7]), (void *)1UL) != 0) {
    char why[64];
    snprintf(why, sizeof why, "%d (%s)", errno, strerror(errno));
    return finish(child, 2, "refused %s", why);
  }
  if (ptrace(PTRACE_CONT, child, 0, 0) != 0) return finish(child, 4, "error %s", "PTRACE_CONT failed");
  double start = now_ms();
  for (;;) {
    pid_t got = waitpid(child, &status, WNOHANG);
    if (got == child && WIFSTOPPED(status) && WSTOPSIG(status) == SIGTRAP) return finish(child, 0, "%s", "working");
    if (got == child && (WIFEXITED(status) || WIFSIGNALED(status))) {
      printf("ran-past\n");
      return 1;
    }
    // Any other stop (a signal for the child) is passed on.
    if (got == child && WIFSTOPPED(status)) ptrace(PTRACE_CONT, child, 0, WSTOPSIG(status));
    if (now_ms() - start > deadline_ms) {
      char waited[32];
      snprintf(waited, sizeof waited, "%.0f", deadline_ms);
      return finish(child, 3, "no-answer %s", waited);
    }
    usleep(200);
  }
}
#endif
