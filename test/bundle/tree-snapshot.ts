// Everything under a directory as comparable lines (type, mode, owner, size, content or link target), to prove
// that an operation changed nothing there.
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';

/** Every path under `root` but the top-level names in `skip`, sorted, each with what it is and holds. */
export async function treeSnapshot(root: string, skip: string[] = []): Promise<string[]> {
  const lines: string[] = [];
  const walk = async (relative: string): Promise<void> => {
    for (const name of (await readdir(path.join(root, relative))).sort()) {
      if (relative === '' && skip.includes(name)) continue;
      const child = path.join(relative, name);
      const full = path.join(root, child);
      const info = await lstat(full);
      const what = info.isFile()
        ? `file ${createHash('sha256')
            .update(await readFile(full))
            .digest('hex')}`
        : info.isSymbolicLink()
          ? `link ${await readlink(full)}`
          : info.isDirectory()
            ? 'dir'
            : 'other';
      lines.push(`${child} ${what} ${info.mode.toString(8)} ${info.uid}:${info.gid} ${info.size} ${info.nlink}`);
      if (info.isDirectory()) await walk(child);
    }
  };
  await walk('');
  return lines;
}
