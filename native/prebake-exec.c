// prebake-exec: launches one function instance in its sandbox. TypeScript computes the instance's view as a
// plan (src/launch/sandbox-plan.ts); this program only executes it, in order, like bubblewrap:
//
//   prebake-exec --root DIR [--uid-base N] [--uid N] [--net-none [--wait-fd N]] [--user-namespaces deny|fork|allow] [--chdir DIR]
//                [--ro-bind SRC DST | --dev-bind SRC DST | --proc DST | --tmpfs DST SIZE_MB]... -- PROGRAM [ARGS...]
//
// DSTs are paths inside the view; DIR (the root) is a host directory holding their mount points.
//
// This process (the owner) stays outside: it drops its supplementary groups (a user namespace cannot drop
// them later: setgroups is denied there), clones the instance's init into new user, mount, PID and IPC
// namespaces (and an empty network namespace with --net-none), writes the init's uid and gid maps
// (0 inside = N outside, 65536 ids), then waits and exits as the init did, as `unshare --fork --kill-child`
// did before. When the owner dies, the init gets SIGKILL (PR_SET_PDEATHSIG), and with it the namespace.
//
// The init, with every capability inside its user namespace and none on the host:
// - makes the host's mounts private and builds the view: the root is a read-only bind of DIR (no tmpfs: criu
//   would save and restore a tmpfs root's content with tar on every restore), each bind read-only except
//   device nodes, its own proc mounted before pivot_root (a user namespace may mount proc only while a
//   visible proc is there), a size-limited tmpfs for /tmp;
// - pivot_root into it and detaches the host's tree;
// - brings up loopback in an empty network namespace;
// - reopens fd 0 as the view's /dev/null (criu cannot dump an fd opened in another mount namespace; pipes
//   have no mount and are fine), closes every fd above 4 (an inherited fd would be dumped as an outside
//   resource no restore can provide);
// - becomes a session leader (criu refuses a tree whose session leader lies outside its PID namespace);
// - empties its capability bounding set, sets no_new_privs, switches to uid/gid --uid inside (a non-zero id:
//   the kernel then clears its capabilities, and no exec gives them back);
// - makes io_uring unavailable: libuv >= 1.45 (Node >= 22) opens an io_uring ring at start-up and criu cannot
//   dump io_uring; when io_uring_setup fails with ENOSYS, libuv falls back to epoll. The seccomp filter is
//   part of the dumped state, so restored clones keep it;
// - denies new user namespaces (kernel attack surface that Docker's default profile denies too; see
//   install_filter), unless --user-namespaces allow;
// - execs PROGRAM.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mount-flags.h"

#if defined(__x86_64__)
#define PREBAKE_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define PREBAKE_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#error "prebake-exec supports x86_64 and aarch64"
#endif

#define ID_COUNT 65536

// deny: no new user namespace; fork: only clone(2) with exactly a fork template's flags (a Python template's
// children need one: src/runtimes/python/prebake_fork.py); allow: the function opted in.
enum userns_policy { USERNS_DENY, USERNS_FORK, USERNS_ALLOW };

enum op_kind { OP_RO_BIND, OP_DEV_BIND, OP_PROC, OP_TMPFS };
struct op {
  enum op_kind kind;
  const char *source;
  const char *target;
  unsigned long size_mb;
};

struct plan {
  const char *root;
  const char *chdir_to;
  unsigned long uid_base;
  unsigned long uid;
  int net_none;
  int wait_fd;  // -1, or an fd to read one byte from before running the command ("outbound": egress attached)
  enum userns_policy userns;
  struct op *ops;
  int op_count;
  char **argv;
};

static void die(const char *what) {
  fprintf(stderr, "prebake-exec: %s: %s\n", what, strerror(errno));
  _exit(126);
}

static void die_path(const char *what, const char *path) {
  fprintf(stderr, "prebake-exec: %s %s: %s\n", what, path, strerror(errno));
  _exit(126);
}

static void usage(const char *problem) {
  fprintf(stderr, "prebake-exec: %s\nusage: prebake-exec --root DIR [--uid-base N] [--uid N] [--net-none [--wait-fd N]] [--user-namespaces deny|fork|allow] [--chdir DIR] "
                  "[--ro-bind SRC DST | --dev-bind SRC DST | --proc DST | --tmpfs DST SIZE_MB]... -- PROGRAM [ARGS...]\n",
          problem);
  exit(2);
}

static unsigned long parse_number(const char *text) {
  char *end;
  errno = 0;
  unsigned long value = strtoul(text, &end, 10);
  if (errno || *end || end == text) usage("not a number");
  return value;
}

static void parse(int argc, char **argv, struct plan *plan) {
  plan->ops = calloc(argc, sizeof(struct op));
  if (!plan->ops) die("calloc");
  plan->uid_base = 100000;
  plan->uid = 1000;
  int i = 1;
  for (; i < argc; i++) {
    const char *arg = argv[i];
    int left = argc - i - 1;
    struct op *op = &plan->ops[plan->op_count];
    if (!strcmp(arg, "--")) {
      i++;
      break;
    } else if (!strcmp(arg, "--root") && left >= 1) {
      plan->root = argv[++i];
    } else if (!strcmp(arg, "--chdir") && left >= 1) {
      plan->chdir_to = argv[++i];
    } else if (!strcmp(arg, "--uid-base") && left >= 1) {
      plan->uid_base = parse_number(argv[++i]);
    } else if (!strcmp(arg, "--uid") && left >= 1) {
      plan->uid = parse_number(argv[++i]);
    } else if (!strcmp(arg, "--net-none")) {
      plan->net_none = 1;
    } else if (!strcmp(arg, "--wait-fd") && left >= 1) {
      plan->wait_fd = (int)parse_number(argv[++i]);
    } else if (!strcmp(arg, "--user-namespaces") && left >= 1) {
      const char *policy = argv[++i];
      if (!strcmp(policy, "deny")) plan->userns = USERNS_DENY;
      else if (!strcmp(policy, "fork")) plan->userns = USERNS_FORK;
      else if (!strcmp(policy, "allow")) plan->userns = USERNS_ALLOW;
      else usage("--user-namespaces takes deny, fork or allow");
    } else if ((!strcmp(arg, "--ro-bind") || !strcmp(arg, "--dev-bind")) && left >= 2) {
      op->kind = arg[2] == 'r' ? OP_RO_BIND : OP_DEV_BIND;
      op->source = argv[++i];
      op->target = argv[++i];
      plan->op_count++;
    } else if (!strcmp(arg, "--proc") && left >= 1) {
      op->kind = OP_PROC;
      op->target = argv[++i];
      plan->op_count++;
    } else if (!strcmp(arg, "--tmpfs") && left >= 2) {
      op->kind = OP_TMPFS;
      op->target = argv[++i];
      op->size_mb = parse_number(argv[++i]);
      plan->op_count++;
    } else {
      usage(arg);
    }
  }
  if (!plan->root) usage("--root is required");
  if (plan->uid == 0 || plan->uid >= ID_COUNT) usage("--uid must be in 1..65535");
  if (i >= argc) usage("no PROGRAM");
  plan->argv = argv + i;
}

static unsigned long locked_flags(const char *path) {
  long flags = kept_mount_flags(path);
  if (flags < 0) die_path("statvfs", path);
  return (unsigned long)flags;
}

static void bind_mount(const char *source, const char *target, int read_only) {
  if (mount(source, target, NULL, MS_BIND | MS_REC, NULL) != 0) die_path("bind", source);
  if (read_only && mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | locked_flags(target), NULL) != 0) {
    die_path("read-only remount of", target);
  }
}

static void loopback_up(void) {
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) die("socket");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  strcpy(ifr.ifr_name, "lo");
  if (ioctl(sock, SIOCGIFFLAGS, &ifr) != 0) die("SIOCGIFFLAGS lo");
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (ioctl(sock, SIOCSIFFLAGS, &ifr) != 0) die("SIOCSIFFLAGS lo");
  close(sock);
}

#if defined(__x86_64__)
#define NR_CLONE 56
#define NR_UNSHARE 272
#else
#define NR_CLONE 220
#define NR_UNSHARE 97
#endif
// The same on every architecture: io_uring_setup, _enter, _register (425..427) and clone3.
#define NR_IO_URING_FIRST 425
#define NR_IO_URING_LAST 427
#define NR_CLONE3 435
// x32 system calls share x86_64's audit arch with this bit set in the number.
#define X32_SYSCALL_BIT 0x40000000
// A fork template's children (prebake_fork.py): SIGCHLD and these, with or without CLONE_NEWNET.
#define FORK_FLAGS (CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | SIGCHLD)

static struct sock_filter statement(unsigned short code, unsigned int k) {
  return (struct sock_filter)BPF_STMT(code, k);
}
static struct sock_filter jump(unsigned short test, unsigned int k, unsigned char if_true, unsigned char if_false) {
  return (struct sock_filter)BPF_JUMP(BPF_JMP | test | BPF_K, k, if_true, if_false);
}
#define LOAD(field) statement(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, field))
#define RETURN(action) statement(BPF_RET | BPF_K, action)
#define FAIL(error) RETURN(SECCOMP_RET_ERRNO | ((error) & SECCOMP_RET_DATA))

// The instance's seccomp filter. Each block reloads what it tests, so that every jump stays inside its block.
// - io_uring: ENOSYS (see the top of this file).
// - Unless user namespaces are allowed: CLONE_NEWUSER through clone(2) or unshare(2) fails with EPERM, as in
//   Docker's default profile (its flags are in the first argument's low word: the kernel ignores the high
//   one). clone3(2) passes its flags in memory, which seccomp cannot read: ENOSYS, so that glibc (threads,
//   posix_spawn) falls back to clone(2). System calls of another ABI (i386 through int 0x80, x32) would
//   bypass the numbers checked here: ENOSYS too; the runtimes prebake runs are 64-bit.
static int install_filter(enum userns_policy userns) {
  int guarded = userns != USERNS_ALLOW;
  struct sock_filter filter[32];
  int n = 0;
  filter[n++] = LOAD(arch);
  filter[n++] = jump(BPF_JEQ, PREBAKE_AUDIT_ARCH, 1, 0);
  filter[n++] = guarded ? FAIL(ENOSYS) : RETURN(SECCOMP_RET_ALLOW);
  filter[n++] = LOAD(nr);
  filter[n++] = jump(BPF_JGE, NR_IO_URING_FIRST, 0, 2);
  filter[n++] = jump(BPF_JGT, NR_IO_URING_LAST, 1, 0);
  filter[n++] = FAIL(ENOSYS);
  if (guarded) {
#if defined(__x86_64__)
    filter[n++] = jump(BPF_JGE, X32_SYSCALL_BIT, 0, 1);
    filter[n++] = FAIL(ENOSYS);
#endif
    filter[n++] = jump(BPF_JEQ, NR_CLONE3, 0, 1);
    filter[n++] = FAIL(ENOSYS);
    // unshare(CLONE_NEWUSER)
    filter[n++] = jump(BPF_JEQ, NR_UNSHARE, 0, 3);
    filter[n++] = LOAD(args[0]);
    filter[n++] = jump(BPF_JSET, CLONE_NEWUSER, 0, 1);
    filter[n++] = FAIL(EPERM);
    filter[n++] = LOAD(nr);
    // clone(CLONE_NEWUSER | ...), except a fork template's exact flags under the fork policy
    int fork = userns == USERNS_FORK;
    filter[n++] = jump(BPF_JEQ, NR_CLONE, 0, fork ? 5 : 3);
    filter[n++] = LOAD(args[0]);
    if (fork) {
      filter[n++] = jump(BPF_JEQ, FORK_FLAGS, 3, 0);
      filter[n++] = jump(BPF_JEQ, FORK_FLAGS | CLONE_NEWNET, 2, 0);
    }
    filter[n++] = jump(BPF_JSET, CLONE_NEWUSER, 0, 1);
    filter[n++] = FAIL(EPERM);
  }
  filter[n++] = RETURN(SECCOMP_RET_ALLOW);
  struct sock_fprog prog = {.len = (unsigned short)n, .filter = filter};
  return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

static void drop_capabilities(unsigned long uid) {
  for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++) {
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) die("PR_CAPBSET_DROP");
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) die("PR_CAP_AMBIENT_CLEAR_ALL");
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) die("PR_SET_NO_NEW_PRIVS");
  if (setresgid(uid, uid, uid) != 0) die("setresgid");
  // Leaving uid 0 clears the permitted and effective sets: nothing is left to raise.
  if (setresuid(uid, uid, uid) != 0) die("setresuid");
}

static void run_init(const struct plan *plan, int sync_fd) {
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) die("PR_SET_PDEATHSIG");
  char go;
  // The owner writes our maps, then closes its end; end of file without the byte means it failed or died.
  if (read(sync_fd, &go, 1) != 1) _exit(126);
  close(sync_fd);
  // As uid 0 inside (now mapped) with every capability of the new user namespace.
  if (setresgid(0, 0, 0) != 0) die("setresgid 0");
  if (setresuid(0, 0, 0) != 0) die("setresuid 0");

  if (chdir(plan->root) != 0) die_path("chdir", plan->root);
  for (int i = 0; i < plan->op_count; i++) {
    const struct op *op = &plan->ops[i];
    const char *target = op->target[0] == '/' ? op->target + 1 : op->target;  // relative to the new root
    if (op->kind == OP_PROC) {
      if (mount("proc", target, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) die_path("mounting proc on", op->target);
    } else if (op->kind == OP_TMPFS) {
      char options[64];
      snprintf(options, sizeof(options), "size=%lum,mode=1777", op->size_mb);
      if (mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, options) != 0) die_path("mounting tmpfs on", op->target);
    }
  }
  if (syscall(SYS_pivot_root, ".", ".") != 0) die("pivot_root");
  // The host's tree sits under the new root now: detach it.
  if (umount2(".", MNT_DETACH) != 0) die("detaching the host's root");
  if (chdir(plan->chdir_to ? plan->chdir_to : "/") != 0) die_path("chdir", plan->chdir_to);
  if (plan->net_none) loopback_up();
  if (plan->wait_fd >= 0) {
    // The controller attaches the "outbound" network, then writes the byte; end of file: it could not.
    if (read(plan->wait_fd, &go, 1) != 1) _exit(126);
  }

  int null = open("/dev/null", O_RDWR);
  if (null < 0 || dup2(null, 0) < 0) die("reopening /dev/null");
  if (null != 0) close(null);
  // fds 0-2 and the protocol's 3 and 4 stay (docs/PROTOCOL.md).
  if (syscall(SYS_close_range, 5U, ~0U, 0U) != 0) die("close_range");
  if (setsid() < 0) die("setsid");
  drop_capabilities(plan->uid);
  if (install_filter(plan->userns) != 0) die("seccomp");
  execvp(plan->argv[0], plan->argv);
  fprintf(stderr, "prebake-exec: cannot run %s: %s\n", plan->argv[0], strerror(errno));
  _exit(127);
}

// In the init's mount namespace, as host root: the binds. Host root can reach every source (a function in
// a 0700 directory, say), which the init, root only inside its user namespace, could not.
static void build_binds(const struct plan *plan, pid_t pid) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/ns/mnt", pid);
  int ns = open(path, O_RDONLY | O_CLOEXEC);
  if (ns < 0 || setns(ns, CLONE_NEWNS) != 0) die_path("entering the mount namespace of", path);
  close(ns);
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) die("making / private");
  bind_mount(plan->root, plan->root, 1);
  if (chdir(plan->root) != 0) die_path("chdir", plan->root);
  for (int i = 0; i < plan->op_count; i++) {
    const struct op *op = &plan->ops[i];
    if (op->kind != OP_RO_BIND && op->kind != OP_DEV_BIND) continue;
    bind_mount(op->source, op->target[0] == '/' ? op->target + 1 : op->target, op->kind == OP_RO_BIND);
  }
}

static void write_file(pid_t pid, const char *name, const char *content) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/%s", pid, name);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) die_path("open", path);
  ssize_t length = strlen(content);
  if (write(fd, content, length) != length) die_path("write", path);
  close(fd);
}

static pid_t init_pid;
static void forward_signal(int sig) {
  (void)sig;
  if (init_pid > 0) kill(init_pid, SIGKILL);
}

int main(int argc, char **argv) {
  struct plan plan = {.wait_fd = -1};
  parse(argc, argv, &plan);
  if (setgroups(0, NULL) != 0) die("setgroups");
  int sync[2];
  if (pipe2(sync, O_CLOEXEC) != 0) die("pipe2");
  // An IPC namespace of its own: SysV objects and POSIX queues die with the instance, and no other instance
  // (same host uid) can attach them. criu dumps and restores it with the tree, as it owns it.
  int flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | (plan.net_none ? CLONE_NEWNET : 0);
  pid_t pid = syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
  if (pid < 0) die("clone");
  if (pid == 0) {
    close(sync[1]);
    run_init(&plan, sync[0]);
  }
  init_pid = pid;
  close(sync[0]);
  // Ending the owner ends the instance: a signal that would end us ends the init first.
  struct sigaction action = {.sa_handler = forward_signal};
  sigaction(SIGTERM, &action, NULL);
  sigaction(SIGINT, &action, NULL);
  sigaction(SIGHUP, &action, NULL);
  char map[64];
  snprintf(map, sizeof(map), "0 %lu %d\n", plan.uid_base, ID_COUNT);
  write_file(pid, "setgroups", "deny");
  write_file(pid, "uid_map", map);
  write_file(pid, "gid_map", map);
  build_binds(&plan, pid);
  if (write(sync[1], "g", 1) != 1) die("releasing the init");
  close(sync[1]);
  int status;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) die("waitpid");
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  // Die of the same signal, as the init did (without a core file).
  int sig = WTERMSIG(status);
  signal(sig, SIG_DFL);
  kill(getpid(), sig);
  return 128 + sig;
}
