// A prebaked start: `criu restore` a fresh clone of the function's image, with fresh pipes plugged in where
// the image recorded the build's, then let the clone reseed its randomness and run its after-restore hooks.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createInstanceCgroup } from '../cgroup/host.ts';
import type { InstanceCgroup } from '../cgroup/instance-cgroup.ts';
import type { Criu } from '../criu/criu.ts';
import { isPrebakeError } from '../errors.ts';
import { Instance } from '../instance/instance.ts';
import type { InstanceRegistry } from '../instance/registry.ts';
import { closeControllerEnds, closeInstanceEnds, createInstancePipes, instanceEnds, PIPE_NAMES } from '../launch/pipes.ts';
import { restoreMounts, TMP_EXTERNAL_KEY, withFunctionDirs } from '../launch/sandbox-plan.ts';
import { restoreRoot } from '../launch/skeleton.ts';
import { TMP_SNAPSHOT_DIR } from '../launch/tmp-snapshot.ts';
import type { ImageStore, StoredImage } from '../store/store.ts';
import { firstChild } from '../launch/proc.ts';
import { criuDetached } from './detached.ts';
import type { StartedInstance } from './started.ts';

// criu's own stdio is 0..2; the instance's four pipe ends go to it as fds 3..6, in PIPE_NAMES order.
const FIRST_INHERITED_FD = 3;

export async function startPrebaked(image: StoredImage, store: ImageStore, criu: Criu, instances: InstanceRegistry): Promise<StartedInstance> {
  const started = performance.now();
  const { meta } = image;
  // Never restore what is not the image as built: a patched page would run.
  await store.assertIntact(image);
  const { dir: runDir, remove: cleanup } = await store.createRunDir();
  let instance: Instance | undefined;
  let cgroup: InstanceCgroup | undefined;
  try {
    // The build's copy of the code, wherever the store holds it now (a bundle imported into another home).
    const plan = withFunctionDirs(meta.sandbox, image.codeDir, meta.preparedDir);
    const skeleton = await restoreRoot(store.sandboxDir, plan);
    // criu joins the cgroup before it runs, so the tree it restores is inside from its first instruction;
    // ending the cgroup ends criu and the tree together, whatever point the restore reached.
    cgroup = createInstanceCgroup(meta.spec);
    const pipes = createInstancePipes();
    const ends = instanceEnds(pipes);
    let restore: Awaited<ReturnType<Criu['restore']>>;
    try {
      restore = await criu.restore({
        imageDir: image.imageDir,
        workDir: runDir,
        extraFds: PIPE_NAMES.map((name) => ends[name]),
        inheritPipes: PIPE_NAMES.map((name, i) => ({ fd: FIRST_INHERITED_FD + i, inode: meta.pipeInodes[name] })),
        cgroupProcs: cgroup.procsFiles,
        sandbox: {
          stageDir: path.join(runDir, 'stage'),
          skeleton,
          mounts: restoreMounts(plan),
          tmpKey: TMP_EXTERNAL_KEY,
          tmpMb: plan.tmpMb,
          tmpContent: path.join(image.buildDir, TMP_SNAPSHOT_DIR),
        },
      });
    } catch (error) {
      closeControllerEnds(pipes);
      throw error;
    } finally {
      closeInstanceEnds(pipes);
    }
    const running = restore;
    instance = new Instance({
      functionName: meta.name,
      owner: running.process,
      pipes,
      restored: true,
      cgroup,
      registry: instances,
      initPid: async () => {
        const pid = await readFile(running.pidFile, 'utf8').then((text) => Number(text.trim()), () => undefined);
        if (pid) return pid;
        // No pidfile yet: the tree's root is still criu's child, mid-restore. Killing only criu would orphan it.
        const criuPid = running.process.pid;
        const child = criuPid === undefined ? undefined : await firstChild(criuPid);
        if (child === undefined) throw new Error(`criu (${criuPid}) has no child yet`);
        return child;
      },
    });
    try {
      await instance.resume(randomBytes(32).toString('hex'), meta.spec.timeoutMs);
    } catch (error) {
      // criu writes the pidfile only once the tree is restored: without a pid in it (on a full disk the file
      // is created but stays empty), the restore itself failed.
      const restored = await readFile(running.pidFile, 'utf8').then((text) => /^\d+\s*$/.test(text), () => false);
      if (isPrebakeError(error, 'PREBAKE_ERR_FUNCTION_EXITED') && !restored) {
        const failure = await criu.restoreError(running, `function "${meta.name}"`, 'the restored process exited before it was ready', error);
        await instance.end();
        throw failure;
      }
      throw error;
    }
    await criuDetached(await instance.initPid());
    return { instance, kind: 'prebaked', startMs: performance.now() - started, cleanup };
  } catch (error) {
    await instance?.end();
    if (!instance) await cgroup?.end();
    await cleanup();
    throw error;
  }
}
