// prebake-restore: runs `criu restore` of a sandboxed instance in a private mount namespace that holds what
// the restore mounts into the clone's view (src/criu/criu.ts, docs/SANDBOX.md):
//
//   prebake-restore --stage DIR --root SKELETON [--bind SRC NAME]... --tmp NAME SIZE_MB [--tmp-content DIR]
//                   [--error-log FILE] -- CRIU [ARGS...]
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
// Nothing here is visible on the host: the namespace ends with criu, and the tmpfs lives on only as the
// clone's /tmp.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "mount-flags.h"

// criu's log file: where a failure here is reported too (stderr is /dev/null), for the restore error's log tail.
static const char *error_log;

static void die(const char *what, const char *path) {
  const char *reason = strerror(errno);
  FILE *log = error_log ? fopen(error_log, "a") : NULL;
  fprintf(log ? log : stderr, "Error (prebake-restore): %s%s%s: %s\n", what, path ? " " : "", path ? path : "", reason);
  exit(126);
}

static void usage(const char *problem) {
  fprintf(stderr, "prebake-restore: %s\nusage: prebake-restore --stage DIR --root SKELETON [--bind SRC NAME]... --tmp NAME SIZE_MB [--tmp-content DIR] [--error-log FILE] -- CRIU [ARGS...]\n", problem);
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

int main(int argc, char **argv) {
  const char *stage = NULL, *root = NULL, *tmp = NULL, *content = NULL;
  const char **binds = calloc(argc, sizeof(char *));
  int bind_count = 0;
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
    } else {
      usage(argv[i]);
    }
  }
  if (!stage || !root || !tmp) usage("--stage, --root and --tmp are required");
  if (i >= argc) usage("no CRIU");

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
  execvp(argv[i], argv + i);
  fprintf(stderr, "prebake-restore: cannot run %s: %s\n", argv[i], strerror(errno));
  return 127;
}
