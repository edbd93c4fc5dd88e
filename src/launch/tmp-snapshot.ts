// An instance's /tmp at the snapshot, kept beside its image. criu leaves /tmp out of the image (an external
// mount: restoring a tmpfs's content would cost a gzip and a tar per restore); native/prebake-restore fills
// each clone's fresh /tmp from this copy, so every clone starts with exactly the snapshot's /tmp.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { PrebakeError } from '../errors.ts';

/**
 * Where, in a build's directory, the copy is: `tmp/` is root's only (the function's files may hold secrets);
 * `tmp/root/` keeps the owners and modes /tmp had (1777 and the instance's uid), for the clones.
 */
export const TMP_SNAPSHOT_DIR = path.join('tmp', 'root');

/** Copies the /tmp of the instance whose init is `initPid` (host PID) to `target`, owners and modes kept. */
export async function copyInstanceTmp(initPid: number, target: string): Promise<void> {
  await mkdir(path.dirname(target), { mode: 0o700 });
  // cp -a keeps owners, modes, times and symbolic links as they are; Node's cp keeps none of the first three.
  const result = await execa('cp', ['-a', '--', `/proc/${initPid}/root/tmp/.`, target], { reject: false, all: true });
  if (result.exitCode !== 0) {
    throw new PrebakeError('PREBAKE_ERR_DUMP_FAILED', `cannot copy the instance's /tmp: ${result.all ?? ''}`.trim(), {
      details: { command: result.command, exitCode: result.exitCode },
      hint: 'the function must leave only regular files, directories and symbolic links in /tmp at the snapshot',
    });
  }
}
