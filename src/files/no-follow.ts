// Changing the owner or mode of a file someone else put in place (a bundle's, an image's) as root: by a
// descriptor opened with O_NOFOLLOW, so that a symbolic link swapped in makes the change fail (ELOOP) instead
// of landing on whatever it points to (issue 18: a link to the API token made an import chown the token). With
// O_NONBLOCK a FIFO cannot hang the open; anything but a file or a directory is refused before any change.
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';

/** Sets `file`'s mode, and its owner when given, never through a link. */
export async function setModeNoFollow(file: string, mode: number, owner?: { uid: number; gid: number }): Promise<void> {
  const handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const stats = await handle.stat();
    if (!stats.isFile() && !stats.isDirectory())
      throw Object.assign(new Error(`${file} is neither a file nor a directory`), { code: 'EINVAL' });
    if (owner) await handle.chown(owner.uid, owner.gid);
    await handle.chmod(mode);
  } finally {
    await handle.close();
  }
}
