// A prebaked start: `criu restore` a fresh clone of the function's image, with fresh pipes plugged in where
// the image recorded the build's, then let the clone reseed its randomness and run its after-restore hooks.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createInstanceCgroup } from '../cgroup/host.ts';
import type { InstanceCgroup } from '../cgroup/instance-cgroup.ts';
import type { Criu, RunningRestore } from '../criu/criu.ts';
import { PrebakeError } from '../errors.ts';
import { Instance } from '../instance/instance.ts';
import type { InstanceRegistry } from '../instance/registry.ts';
import { attachOutbound } from '../launch/outbound.ts';
import { closeControllerEnds, closeInstanceEnds, createInstancePipes, instanceEnds, PIPE_NAMES } from '../launch/pipes.ts';
import { processTree, readProcess } from '../launch/proc.ts';
import { instanceHostId, restoreMounts, TMP_EXTERNAL_KEY, withFunctionDirs } from '../launch/sandbox-plan.ts';
import { restoreRoot } from '../launch/skeleton.ts';
import { TMP_SNAPSHOT_DIR } from '../launch/tmp-snapshot.ts';
import type { ImageStore, StoredImage } from '../store/store.ts';
import { PhaseClock } from './phases.ts';
import type { StartedInstance } from './started.ts';

// criu's own stdio is 0..2; the instance's four pipe ends go to it as fds 3..6, in PIPE_NAMES order.
const FIRST_INHERITED_FD = 3;

export interface PrebakedOptions {
  /**
   * Send the resume frame (reseed, afterRestore hooks) as part of the start (default). Without it the clone is
   * restored and waits, unresumed, for resumeClone (a pool that runs the hooks when it hands the clone out).
   */
  resume?: boolean;
  /** Restore at this nice value: a background refill (see RestoreOptions.nice). */
  nice?: number;
  /**
   * Attach an "outbound" image's egress (default). A fork template goes without: it serves no invocation, and
   * each of its children gets a network namespace and egress of its own.
   */
  network?: boolean;
}

export async function startPrebaked(
  image: StoredImage,
  store: ImageStore,
  criu: Criu,
  instances: InstanceRegistry,
  options: PrebakedOptions = {},
): Promise<StartedInstance> {
  const started = performance.now();
  const clock = new PhaseClock();
  const { meta } = image;
  // Never restore what is not the image as built: a patched page would run.
  await store.assertIntact(image);
  clock.lap('image check');
  const { dir: runDir, remove: cleanup } = await store.createRunDir();
  clock.lap('run dir');
  let instance: Instance | undefined;
  let cgroup: InstanceCgroup | undefined;
  try {
    // The build's copy of the code, wherever the store holds it now (a bundle imported into another home).
    const plan = withFunctionDirs(meta.sandbox, image.codeDir, meta.preparedDir);
    const skeleton = await restoreRoot(store.sandboxDir, plan);
    clock.lap('view root');
    // criu joins the cgroup before it runs, so the tree it restores is inside from its first instruction;
    // ending the cgroup ends criu and the tree together, whatever point the restore reached.
    cgroup = createInstanceCgroup(meta.spec, store.homeTag);
    clock.lap('cgroup');
    const pipes = createInstancePipes(instanceHostId(meta.sandbox));
    const ends = instanceEnds(pipes);
    clock.lap('pipes');
    let restore: RunningRestore;
    try {
      restore = await criu.restore({
        imageDir: image.imageDir,
        workDir: runDir,
        extraFds: PIPE_NAMES.map((name) => ends[name]),
        inheritPipes: PIPE_NAMES.map((name, i) => ({ fd: FIRST_INHERITED_FD + i, inode: meta.pipeInodes[name] })),
        cgroupProcs: cgroup.procsFiles,
        ...(options.nice && { nice: options.nice }),
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
      initPid: () => restoredRoot(running, meta.name),
    });
    const label = `function "${meta.name}"`;
    // The resume frame goes out at once: the clone reads it as soon as it runs, while criu lets go of its other
    // threads. The start is complete when both are done (see RunningRestore.restored).
    // An "outbound" clone is resumed once its egress is attached: its afterRestore hooks may reconnect.
    const outbound = meta.sandbox.network === 'outbound' && options.network !== false;
    const resume = () =>
      resumeClone(instance!, meta.spec.timeoutMs).then(
        () => undefined,
        (error: unknown) => error,
      );
    let resumed = options.resume === false || outbound ? undefined : resume();
    const restored = await running.restored;
    if (restored === 'timeout') {
      const failure = await criu.restoreTimeout(running, label, meta.name);
      // Ends criu with the half-restored tree: both are in the instance's cgroup.
      await instance.end();
      throw failure;
    }
    clock.lapRestore(running.timeline);
    if (outbound && restored !== 'failed') {
      await attachOutbound(await instance.initPid(), cgroup.procsFiles, meta.name);
      clock.lap('network (slirp4netns attached)');
      if (options.resume !== false) resumed = resume();
    }
    const resumeError = await resumed;
    if (resumed) clock.lap('resume (reseed, afterRestore hooks) past the hand-over');
    if (restored === 'failed') {
      const failure = await criu.restoreError(running, label, 'the restored process exited before it was ready', resumeError);
      await instance.end();
      throw failure;
    }
    if (resumeError) throw resumeError;
    return { instance, kind: 'prebaked', startMs: performance.now() - started, cleanup, phases: clock.phases };
  } catch (error) {
    await instance?.end();
    if (!instance) await cgroup?.end();
    await cleanup();
    throw error;
  }
}

/** First words to a restored clone: its own seed for its randomness, and its afterRestore hooks. */
export function resumeClone(instance: Instance, timeoutMs: number): Promise<void> {
  return instance.resume(randomBytes(32).toString('hex'), timeoutMs);
}

// The restored tree's root on the host: criu writes the pidfile before it exits; before that (a restore
// interrupted midway) it is the namespace init below prebake-restore.
async function restoredRoot(running: RunningRestore, name: string): Promise<number> {
  const pid = await readFile(running.pidFile, 'utf8').then(
    (text) => Number(text.trim()),
    () => undefined,
  );
  if (pid) return pid;
  const ownerPid = running.process.pid;
  for (const candidate of ownerPid === undefined ? [] : await processTree(ownerPid)) {
    if ((await readProcess(candidate))?.namespaceInit) return candidate;
  }
  throw new PrebakeError(
    'PREBAKE_ERR_FUNCTION_EXITED',
    `function "${name}": its restored instance has no process (prebake-restore ${ownerPid} has no restored tree)`,
    {
      functionName: name,
    },
  );
}
