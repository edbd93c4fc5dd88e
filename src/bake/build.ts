// prebake build: run a function to readiness, run its warm-up invocations, let its before-checkpoint hooks
// run, dump it with criu, check that clones of the image do not share state (clone-check.ts), and publish the
// image. The build is the deployment: its instance runs from the build's own copy of the function's code. On
// any failure the instance is ended and the half-made build directory removed.
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describeBuild } from '../criu/build-info.ts';
import type { Criu } from '../criu/criu.ts';
import { makeRestorable } from '../criu/image-access.ts';
import { dumpBlocker } from '../criu/privileges.ts';
import { PrebakeError } from '../errors.ts';
import type { Instance } from '../instance/instance.ts';
import type { InstanceRegistry } from '../instance/registry.ts';
import { processTree, statusKb } from '../launch/proc.ts';
import { dumpExternals, namespaceRootHostId } from '../launch/sandbox-plan.ts';
import { copyInstanceTmp, TMP_SNAPSHOT_DIR } from '../launch/tmp-snapshot.ts';
import { checkView } from '../launch/view-check.ts';
import { sourceDigest, sourceFingerprint } from '../manifest/digest.ts';
import type { FunctionSpec } from '../manifest/schema.ts';
import { ensurePrepared, runtimeFor } from '../runtimes/index.ts';
import { launchCold } from '../start/cold.ts';
import { copyFunctionCode } from '../store/copy-code.ts';
import { digestImageFiles } from '../store/image-files.ts';
import { codeDirOf, directoryBytes, type ImageMeta, type ImageStore, META_FORMAT, type StoredImage } from '../store/store.ts';
import { withAbiMismatchHint } from './abi-mismatch.ts';
import { checkClones, cloneCheckWarnings } from './clone-check.ts';
import type { BuildListener, BuildPhase } from './progress.ts';

export interface BuildOptions {
  store: ImageStore;
  criu: Criu;
  /** The registry the build's instances (the one dumped, the clone check's) are alive in. */
  instances: InstanceRegistry;
  /** Told each phase as it begins and ends (progress.ts renders them for people). */
  onEvent?: BuildListener;
  /** Fail the build (PREBAKE_ERR_CLONE_CHECK) rather than warn when clones share state. */
  strict?: boolean;
  /** Copy the code from here instead of `fn.dir` (which stays the build's declared source directory). */
  codeFrom?: string;
}

export interface BuildResult extends StoredImage {
  /** What the function printed during init and warm-up. */
  logs: string;
  /** Findings of the clone-uniqueness check, for people (also derived from meta.cloneCheck). */
  warnings: string[];
}

export async function buildFunction(fn: FunctionSpec, options: BuildOptions): Promise<BuildResult> {
  const { store, criu } = options;
  const report = options.onEvent ?? (() => {});
  const begin = (phase: BuildPhase, detail: string) => {
    report({ functionName: fn.name, kind: 'begin', phase, detail });
    return performance.now();
  };
  const end = (phase: BuildPhase, detail: string) => report({ functionName: fn.name, kind: 'end', phase, detail });
  const note = (detail: string) => report({ functionName: fn.name, kind: 'note', detail });
  const started = performance.now();
  const runtime = runtimeFor(fn.runtime);
  const [criuVersion, interpreter] = await Promise.all([criu.version(), runtime.interpreter(fn)]);
  // After version(), which names a missing or too old criu as such.
  const criuBuild = describeBuild(await criu.build());
  // Before the init runs: the dump at its end would fail anyway.
  const blocker = dumpBlocker(await readFile('/proc/self/status', 'utf8'));
  if (blocker)
    throw new PrebakeError('PREBAKE_ERR_DUMP_FAILED', `function "${fn.name}" cannot be built here: ${blocker}`, { functionName: fn.name });

  const release = await store.lock(fn.name);
  let buildDir: Awaited<ReturnType<ImageStore['createBuildDir']>> | undefined;
  let instance: Instance | undefined;
  try {
    const source = options.codeFrom ?? fn.dir;
    const [digest, fingerprint] = await Promise.all([sourceDigest(source), sourceFingerprint(source)]);
    buildDir = await store.createBuildDir(fn.name);
    const imageDir = path.join(buildDir.dir, 'images');
    // Root only: an image holds the function's memory (its secrets) and is what every clone runs.
    await mkdir(imageDir, { mode: 0o700 });
    const prepareStarted = begin(
      'prepare',
      fn.runtime === 'java' ? 'copying the code, compiling it with javac' : "copying the code, preparing the runtime's files",
    );
    // The build is the deployment: the instance runs from the build's own copy of the code (see copy-code.ts).
    const deployed: FunctionSpec = { ...fn, dir: codeDirOf(buildDir.dir), interpreter: interpreter.path };
    await copyFunctionCode(source, deployed.dir);
    const preparedDir = await ensurePrepared(store, deployed, digest);

    const command = runtime.command(deployed, preparedDir);
    // The sandbox binds the build's copy of the code, not the source, as the function's directory.
    const launched = await launchCold({
      fn: deployed,
      preparedDir,
      command,
      store,
      instances: options.instances,
      beforeLaunch: async (sandbox) => {
        await checkView(deployed, sandbox.view);
        end('prepare', `prepared in ${msSince(prepareStarted)}`);
        begin('init', `starting ${fn.runtime} and running the function's init`);
      },
    }).catch((error: unknown) => {
      throw withAbiMismatchHint(error, fn, command.argv[0]!);
    });
    instance = launched.instance;
    const { sandbox, initMs, network, pipeInodes: inodes } = launched;
    end('init', `init done in ${initMs.toFixed(1)} ms`);

    const warmupEvent = JSON.stringify(fn.warmup.event ?? {});
    const warmupStarted = fn.warmup.invocations > 0 ? begin('warm-up', `${fn.warmup.invocations} invocation(s)`) : 0;
    for (let i = 1; i <= fn.warmup.invocations; i++) {
      try {
        await instance.invoke(warmupEvent, { requestId: `warmup-${i}`, timeoutMs: fn.timeoutMs });
      } catch (error) {
        if (error instanceof PrebakeError && error.code !== 'PREBAKE_ERR_TIMEOUT') {
          throw new PrebakeError('PREBAKE_ERR_WARMUP_FAILED', `function "${fn.name}": warm-up invocation ${i} failed: ${error.message}`, {
            cause: error,
            functionName: fn.name,
            functionError: error.functionError,
            hint: 'the warm-up event in function.json must be one the handler accepts',
          });
        }
        throw error;
      }
    }
    if (fn.warmup.invocations > 0) end('warm-up', `${fn.warmup.invocations} warm-up invocation(s) done in ${msSince(warmupStarted)}`);

    await instance.checkpoint(fn.timeoutMs);
    // The image's namespace holds lo only, as "none"'s: each clone gets its own egress at restore.
    await network?.detach();
    const pid = await instance.initPid();
    const dumpStarted = begin('dump', `criu writes the image of ${((await residentBytes(pid)) / 1e6).toFixed(1)} MB of anonymous memory`);
    // /tmp as the function left it, kept with the image: every clone starts from a copy (criu.ts, restore).
    await copyInstanceTmp(pid, path.join(buildDir.dir, TMP_SNAPSHOT_DIR));
    await criu.dump({
      pid,
      imageDir,
      logFile: path.join(buildDir.dir, 'dump.log'),
      label: `function "${fn.name}"`,
      functionName: fn.name,
      externals: dumpExternals(sandbox.plan),
    });
    // criu dump ended the tree; reap unshare and collect the last of the logs.
    await instance.end();
    const logs = instance.logs.text();
    // criu writes its files 0644.
    await makeRestorable(buildDir.dir, namespaceRootHostId(sandbox.plan));
    const imageBytes = await directoryBytes(imageDir);
    end('dump', `dump done in ${msSince(dumpStarted)}: image ${(imageBytes / 1e6).toFixed(1)} MB`);

    const meta: ImageMeta = {
      format: META_FORMAT,
      buildId: buildDir.buildId,
      name: fn.name,
      runtime: fn.runtime,
      spec: fn,
      sourceDigest: digest,
      sourceFingerprint: fingerprint,
      preparedDir,
      builtAt: new Date().toISOString(),
      buildMs: performance.now() - started,
      initMs,
      warmupInvocations: fn.warmup.invocations,
      imageBytes,
      criuVersion,
      criuBuild,
      runtimeVersion: interpreter.version,
      interpreter,
      pipeInodes: inodes,
      files: await digestImageFiles(imageDir),
      sandbox: sandbox.plan,
    };
    if (fn.cloneCheck !== false) begin('clone check', 'restoring two clones and starting two plain instances to compare');
    meta.cloneCheck = await checkClones({
      fn: deployed,
      image: { meta, buildDir: buildDir.dir, imageDir, codeDir: deployed.dir },
      preparedDir,
      store,
      criu,
      instances: options.instances,
    });
    meta.buildMs = performance.now() - started;
    const warnings = cloneCheckWarnings(meta.cloneCheck);
    if (meta.cloneCheck.off) note('clone check: turned off in function.json');
    else if (meta.cloneCheck.skipped) end('clone check', `clone check skipped: ${meta.cloneCheck.skipped}`);
    else if (warnings.length === 0) end('clone check', 'clone check: clones share no state that plain starts do not');
    else end('clone check', `clone check: ${warnings.length} finding(s), below`);
    if (options.strict && warnings.length > 0) {
      throw new PrebakeError('PREBAKE_ERR_CLONE_CHECK', `function "${fn.name}": ${warnings.join('; ')}`, {
        functionName: fn.name,
        details: { sharedPaths: meta.cloneCheck.sharedPaths },
      });
    }
    const stored = await store.publish(buildDir.dir, meta);
    buildDir = undefined;
    note(`image ${(meta.imageBytes / 1e6).toFixed(1)} MB published`);
    return { ...stored, logs, warnings };
  } finally {
    await instance?.end();
    if (buildDir) await buildDir.remove();
    await release();
  }
}

const msSince = (started: number): string => `${(performance.now() - started).toFixed(0)} ms`;

/** Anonymous resident memory of the tree rooted at `pid`: about what criu writes (file-backed pages stay in their files). */
async function residentBytes(pid: number): Promise<number> {
  const kb = await Promise.all((await processTree(pid)).map((member) => statusKb(member, 'RssAnon')));
  return kb.filter(Number.isFinite).reduce((sum, value) => sum + value, 0) * 1024;
}
