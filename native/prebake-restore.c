// prebake-restore: runs `criu restore` of a sandboxed instance in a private mount namespace that holds what
// the restore mounts into the clone's view (src/criu/criu.ts, docs/SANDBOX.md):
//
//   prebake-restore --stage DIR --root SKELETON [--bind SRC NAME]... --tmp NAME SIZE_MB [--tmp-content DIR]
//                   [--error-log FILE] [--ready-fd FD] [--nice N] -- CRIU [ARGS...]
//
// Everything criu mounts into the clone is staged under DIR (in a restore's own run dir), because criu mounts
// from inside the clone's user namespace, where host root has no more rights than anyone: a source under a
// directory others cannot search (a Python in /root/.pyenv, a function in a 0700 directory) would be out of
// its reach. Here, as host root, each SRC is bound at DIR/NAME, which criu then finds.
// - the view's root (criu's --root is DIR/root): a read-only bind, so that criu's bind of it in the clone is
//   read-only too;
// - the clone's /tmp: a fresh tmpfs of SIZE_MB on DIR/NAME, filled with a copy of the snapshot's /tmp (kept with the
//   image at build), which criu binds into the clone as an external mount. Letting criu save /tmp as a tmpfs
//   would make every restore fork gzip and tar to unpack it (13 ms here); a copy in C costs next to nothing
//   for the usual empty or small /tmp, and each clone gets its own, so a file that grew in one clone never
//   reaches another.
// Nothing here is visible on the host: the namespace ends with this process, and the tmpfs lives on only as
// the clone's /tmp.
//
// Then it runs criu as its child with `--restore-detached` and stays, as the instance's owner and its child
// subreaper (see run_criu): criu exits as soon as the tree runs and it has let go of every thread, the clone
// is reparented here, and FD (--ready-fd) gets one line, "R MAIN STAGED CRIU_EXIT" (CLOCK_MONOTONIC ns when
// this program began, when criu was forked after the staging, when criu exited: the controller's
// `invoke --timing --verbose` breakdown): the controller knows the restore is complete without
// polling /proc, and no criu is left waiting on a clone (a clone killed before criu let go of all its threads
// had a foreground criu wait on ptraced zombies). This process exits with the clone's status.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mount-flags.h"

// criu's log file: where a failure here is reported too (stderr is /dev/null), for the restore error's log tail.
static const char *error_log;
static unsigned long long began_ns;

static unsigned long long monotonic_ns(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (unsigned long long)now.tv_sec * 1000000000ull + (unsigned long long)now.tv_nsec;
}

static void die(const char *what, const char *path) {
  const char *reason = strerror(errno);
  FILE *log = error_log ? fopen(error_log, "a") : NULL;
  fprintf(log ? log : stderr, "Error (prebake-restore): %s%s%s: %s\n", what, path ? " " : "", path ? path : "", reason);
  exit(126);
}

static void usage(const char *problem) {
  fprintf(stderr, "prebake-restore: %s\nusage: prebake-restore --stage DIR --root SKELETON [--bind SRC NAME]... --tmp NAME SIZE_MB [--tmp-content DIR] [--error-log FILE] [--ready-fd FD] [--nice N] -- CRIU [ARGS...]\n", problem);
  exit(2);
}

static const char *content_root;
static size_t content_root_length;
static const char *tmp_root;

static int copy_entry(const char *source, const struct stat *st, int type, struct FTW *ftw) {
  (void)type;
  (void)ftw;
  char target[4096];
  if (snprintf(target, sizeof(target), "%s%s", tmp_root, source + content_root_length) >= (int)sizeof(target)) {
    errno = ENAMETOOLONG;
    die("copying", source);
  }
  if (S_ISDIR(st->st_mode)) {
    if (mkdir(target, st->st_mode & 07777) != 0 && errno != EEXIST) die("mkdir", target);
  } else if (S_ISLNK(st->st_mode)) {
    char link[4096];
    ssize_t length = readlink(source, link, sizeof(link) - 1);
    if (length < 0) die("readlink", source);
    link[length] = 0;
    if (symlink(link, target) != 0) die("symlink", target);
  } else if (S_ISREG(st->st_mode)) {
    int in = open(source, O_RDONLY | O_CLOEXEC);
    if (in < 0) die("open", source);
    int out = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, st->st_mode & 07777);
    if (out < 0) die("create", target);
    for (off_t left = st->st_size; left > 0;) {
      ssize_t sent = sendfile(out, in, NULL, left);
      if (sent <= 0) die("copying", source);
      left -= sent;
    }
    close(in);
    close(out);
  } else {
    return 0;  // sockets, fifos and devices are not restorable content
  }
  // As they were in the snapshot: the instance's own uid and the modes and times it set.
  if (lchown(target, st->st_uid, st->st_gid) != 0) die("chown", target);
  if (!S_ISLNK(st->st_mode) && chmod(target, st->st_mode & 07777) != 0) die("chmod", target);
  struct timespec times[2] = {st->st_atim, st->st_mtim};
  if (utimensat(AT_FDCWD, target, times, AT_SYMLINK_NOFOLLOW) != 0) die("utimensat", target);
  return 0;
}

static unsigned long locked_flags(const char *path) {
  long flags = kept_mount_flags(path);
  if (flags < 0) die("statvfs", path);
  return (unsigned long)flags;
}

// DIR/NAME, made as a mount point for `source` (a directory, or a file for a device node).
static char *mount_point(const char *stage, const char *name, const char *source) {
  char *target;
  if (asprintf(&target, "%s/%s", stage, name) < 0) die("asprintf", name);
  struct stat st;
  if (source && stat(source, &st) != 0) die("stat", source);
  if (source && !S_ISDIR(st.st_mode)) {
    int fd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) die("create", target);
    close(fd);
  } else if (mkdir(target, 0755) != 0 && errno != EEXIST) {
    die("mkdir", target);
  }
  return target;
}

static void bind_read_only(const char *source, const char *target) {
  if (mount(source, target, NULL, MS_BIND, NULL) != 0) die("bind", source);
  if (mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | locked_flags(target), NULL) != 0) die("read-only remount of", target);
}

// Ends this process the way `status` (a child's, from waitpid) ended that child: a signal is raised again, so
// that the controller sees "criu was killed by SIGKILL" or "killed by SIGSEGV" as if it watched that child.
static int exit_like(int status) {
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    signal(sig, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    raise(sig);
    return 128 + sig;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

// This process's children by the kernel's list (it has one thread); at most `max`.
static int children(pid_t *out, int max) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int)getpid());
  FILE *file = fopen(path, "re");
  if (!file) return 0;
  int count = 0;
  while (count < max && fscanf(file, "%d", &out[count]) == 1) count++;
  fclose(file);
  return count;
}

// Waits for every child; returns the status of `root` (0 when it was not seen).
static int reap_all(pid_t root) {
  int root_status = 0, status;
  for (;;) {
    pid_t pid = waitpid(-1, &status, __WALL);
    if (pid < 0) {
      if (errno == EINTR) continue;
      return root_status;
    }
    if (pid == root) root_status = status;
  }
}

static int run_criu(char **criu_argv, int ready_fd, int reniced) {
  // Orphans below this process come here, not to the host's init: the clone, once criu exits.
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) die("prctl(PR_SET_CHILD_SUBREAPER)", NULL);
  unsigned long long staged_ns = monotonic_ns();
  pid_t criu = fork();
  if (criu < 0) die("fork", NULL);
  if (criu == 0) {
    execvp(criu_argv[0], criu_argv);
    die("cannot run", criu_argv[0]);
  }
  int status;
  while (waitpid(criu, &status, 0) < 0) {
    if (errno != EINTR) die("waitpid", NULL);
  }
  unsigned long long criu_exit_ns = monotonic_ns();
  pid_t clone[8];
  int count = children(clone, 8);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    // criu kills what it restored when it fails by itself; a criu killed midway leaves its half-restored
    // tree here (the instance's cgroup would end it too, but nothing need wait for that).
    for (int c = 0; c < count; c++) kill(clone[c], SIGKILL);
    reap_all(-1);
    return exit_like(status);
  }
  // criu restores each thread's nice value, but lowering one takes CAP_SYS_NICE on the host, which the clone
  // lacks in its user namespace: back to the image's priority from here (its process group holds the tree).
  if (reniced) {
    for (int c = 0; c < count; c++) {
      pid_t group = getpgid(clone[c]);
      if (group > 0) setpriority(PRIO_PGRP, group, 0);
    }
  }
  if (ready_fd >= 0) {
    // One write under PIPE_BUF: the controller reads the line whole.
    char line[80];
    int length = snprintf(line, sizeof(line), "R %llu %llu %llu\n", began_ns, staged_ns, criu_exit_ns);
    ssize_t written;
    do written = write(ready_fd, line, (size_t)length);
    while (written < 0 && errno == EINTR);
    close(ready_fd);
  }
  return exit_like(reap_all(count > 0 ? clone[0] : -1));
}

int main(int argc, char **argv) {
  began_ns = monotonic_ns();
  const char *stage = NULL, *root = NULL, *tmp = NULL, *content = NULL;
  const char **binds = calloc(argc, sizeof(char *));
  int bind_count = 0, ready_fd = -1, nice_value = 0;
  unsigned long size_mb = 0;
  int i = 1;
  if (!binds) die("calloc", NULL);
  for (; i < argc; i++) {
    if (!strcmp(argv[i], "--")) {
      i++;
      break;
    } else if (!strcmp(argv[i], "--stage") && i + 1 < argc) {
      stage = argv[++i];
    } else if (!strcmp(argv[i], "--root") && i + 1 < argc) {
      root = argv[++i];
    } else if (!strcmp(argv[i], "--bind") && i + 2 < argc) {
      binds[bind_count++] = argv[++i];
      binds[bind_count++] = argv[++i];
    } else if (!strcmp(argv[i], "--tmp") && i + 2 < argc) {
      tmp = argv[++i];
      char *end;
      size_mb = strtoul(argv[++i], &end, 10);
      if (*end || size_mb == 0) usage("SIZE_MB must be a positive number");
    } else if (!strcmp(argv[i], "--error-log") && i + 1 < argc) {
      error_log = argv[++i];
    } else if (!strcmp(argv[i], "--tmp-content") && i + 1 < argc) {
      content = argv[++i];
    } else if (!strcmp(argv[i], "--ready-fd") && i + 1 < argc) {
      char *end;
      ready_fd = (int)strtol(argv[++i], &end, 10);
      if (*end || ready_fd < 3) usage("FD must be a number >= 3");
    } else if (!strcmp(argv[i], "--nice") && i + 1 < argc) {
      char *end;
      nice_value = (int)strtol(argv[++i], &end, 10);
      if (*end || nice_value < 0 || nice_value > 19) usage("--nice takes 0 to 19");
    } else {
      usage(argv[i]);
    }
  }
  if (!stage || !root || !tmp) usage("--stage, --root and --tmp are required");
  if (i >= argc) usage("no CRIU");

  // Neither criu nor the clone may hold the controller's end of the notice.
  if (ready_fd >= 0 && fcntl(ready_fd, F_SETFD, FD_CLOEXEC) != 0) die("--ready-fd", NULL);
  // A background restore (a pool's refill) yields the CPU to invocations: criu, and the clone while criu
  // restores it, inherit this. Set before the staging, which is part of the restore's cost.
  if (nice_value > 0 && setpriority(PRIO_PROCESS, 0, nice_value) != 0) die("setpriority", NULL);
  if (unshare(CLONE_NEWNS) != 0) die("unshare", NULL);
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) die("making / private", NULL);
  // The mount points on a small tmpfs of this namespace's own: made and dropped in memory, where a dozen
  // mkdirs in the run dir and their removal cost about as much as the rest of this program.
  if (mkdir(stage, 0711) != 0 && errno != EEXIST) die("mkdir", stage);
  if (mount("tmpfs", stage, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0711") != 0) die("mounting tmpfs on", stage);
  bind_read_only(root, mount_point(stage, "root", NULL));
  // Read-only or not is decided inside the clone's view (criu restores each mount's flags); here only reach.
  for (int b = 0; b < bind_count; b += 2) {
    const char *target = mount_point(stage, binds[b + 1], binds[b]);
    if (mount(binds[b], target, NULL, MS_BIND, NULL) != 0) die("bind", binds[b]);
  }
  char options[64];
  snprintf(options, sizeof(options), "size=%lum,mode=1777", size_mb);
  char *tmp_path = mount_point(stage, tmp, NULL);
  if (mount("tmpfs", tmp_path, "tmpfs", MS_NOSUID | MS_NODEV, options) != 0) die("mounting tmpfs on", tmp_path);
  if (content) {
    content_root = content;
    content_root_length = strlen(content);
    tmp_root = tmp_path;
    if (nftw(content, copy_entry, 16, FTW_PHYS) != 0) die("copying", content);
  }
  return run_criu(argv + i, ready_fd, nice_value > 0);
}
