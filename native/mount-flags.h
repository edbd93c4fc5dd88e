// Shared by prebake-exec.c and prebake-restore.c.
#ifndef PREBAKE_MOUNT_FLAGS_H
#define PREBAKE_MOUNT_FLAGS_H
#include <sys/mount.h>
#include <sys/statvfs.h>

// The flags a read-only remount of a bind must repeat: the kernel refuses to clear them on a mount whose
// flags it locked (any bind seen from a user namespace), so they go in again as they are. -1 on error.
static inline long kept_mount_flags(const char *path) {
  struct statvfs st;
  if (statvfs(path, &st) != 0) return -1;
  long flags = 0;
  if (st.f_flag & ST_NOSUID) flags |= MS_NOSUID;
  if (st.f_flag & ST_NODEV) flags |= MS_NODEV;
  if (st.f_flag & ST_NOEXEC) flags |= MS_NOEXEC;
  if (st.f_flag & ST_NOATIME) flags |= MS_NOATIME;
  if (st.f_flag & ST_NODIRATIME) flags |= MS_NODIRATIME;
  if (st.f_flag & ST_RELATIME) flags |= MS_RELATIME;
  return flags;
}
#endif
