// What a build directory needs before criu can restore from it into a sandbox (docs/SANDBOX.md, "Dump and
// restore"). criu reads some images from inside the clone's user namespace: seccomp.img and optional ones
// (tty-info.img) as the namespace's root (the function's first host id), which root's 0700/0600 would shut out;
// timens-0.img as the new task before its id maps are written, still host root but without its capabilities.
// Root keeps the image and the group of the namespace's root may read it (no instance runs with that gid:
// instances are gid INSTANCE_ID inside); others read nothing, and no instance has the image in its view.
import { chmod, mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { setModeNoFollow } from '../files/no-follow.ts';
import { TMP_SNAPSHOT_DIR } from '../launch/tmp-snapshot.ts';

/**
 * Makes the build in `buildDir` (images/, the snapshot's /tmp) restorable by a user namespace whose root is host
 * id `namespaceRoot` (sandbox-plan.ts namespaceRootHostId): after a dump, and after an import.
 */
export async function makeRestorable(buildDir: string, namespaceRoot: number): Promise<void> {
  const imageDir = path.join(buildDir, 'images');
  // Never through a link: an imported build is the bundle's (docs/BUNDLES.md).
  const owner = { uid: 0, gid: namespaceRoot };
  for (const dir of [buildDir, imageDir]) await setModeNoFollow(dir, 0o750, owner);
  for (const file of await readdir(imageDir)) await setModeNoFollow(path.join(imageDir, file), 0o640, owner);
  // A bundle does not carry an empty directory: an empty /tmp at the snapshot arrives as nothing.
  const snapshotTmp = path.join(buildDir, TMP_SNAPSHOT_DIR);
  await mkdir(path.dirname(snapshotTmp), { recursive: true, mode: 0o700 });
  await mkdir(snapshotTmp, { recursive: true }).then(async (made) => {
    if (made) await chmod(snapshotTmp, 0o1777);
  });
}
