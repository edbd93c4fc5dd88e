// No criu run without a deadline (issue 23): a criu that hangs in dump or in restore is killed with everything
// it started, nothing is left, and the error says which phase, how long, and what criu's log said last. The
// hanging criu is a stand-in (this host's real criu does not hang with CRIU_FAULT=130): it tests the deadline,
// not criu; the function that answers meanwhile is restored by the real criu.
import { chmod, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFunction } from '../../src/bake/build.ts';
import { Criu } from '../../src/criu/criu.ts';
import { criuDeadlinesFromEnv, DEFAULT_CRIU_DEADLINES } from '../../src/criu/deadline.ts';
import { ownMounts } from '../../src/files/mountinfo.ts';
import { invokeFunction } from '../../src/invoke/invoke.ts';
import { loadFunction } from '../../src/manifest/load.ts';
import { criuBinary } from '../../src/paths.ts';
import { makeSandbox, prebakeFailure, type Sandbox, settled } from '../helpers.ts';
import { apiError, startServer } from '../server/harness.ts';

let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await makeSandbox();
  await sandbox.build('faulty-node');
  await sandbox.build('probe-node');
});

afterAll(() => sandbox.finish());

/**
 * A criu that runs the real one, except for `phase` (of images under functions/<only>/, when given), where
 * it starts a child that sleeps ten minutes and waits for it: a tree, as criu's own helpers make one. The
 * child's name mentions the sandbox, so that expectClean sees it if only the script were killed.
 */
async function criuHanging(phase: 'dump' | 'restore', only = ''): Promise<string> {
  const file = path.join(sandbox.root, `criu-hangs-in-${phase}${only && `-${only}`}`);
  await writeFile(
    file,
    `#!/bin/bash
if [ "$1" = ${phase} ] && [[ "$*" == *"/functions/${only}"* ]]; then
  (exec -a "$0 hanging" sleep 600) &
  wait
fi
exec '${criuBinary()}' "$@"
`,
  );
  await chmod(file, 0o755);
  return file;
}

/** No mount of this process's namespace under the sandbox (prebake-restore stages its own, privately). */
const sandboxMounts = () => ownMounts().filter((mount) => mount.mountPoint.startsWith(sandbox.root));

describe('the deadlines', () => {
  it('default to 120 s for a dump and 30 s for a restore or a check; PREBAKE_CRIU_DEADLINE_S sets every phase', () => {
    expect(criuDeadlinesFromEnv({})).toEqual({ checkMs: 30_000, dumpMs: 120_000, restoreMs: 30_000 });
    expect(criuDeadlinesFromEnv({ PREBAKE_CRIU_DEADLINE_S: '2.5' })).toEqual({ checkMs: 2500, dumpMs: 2500, restoreMs: 2500 });
    for (const bad of ['0', '-1', 'soon', '1e9']) {
      expect(() => criuDeadlinesFromEnv({ PREBAKE_CRIU_DEADLINE_S: bad }), bad).toThrow(
        expect.objectContaining({
          code: 'PREBAKE_ERR_INVALID_INPUT',
          message: expect.stringContaining('PREBAKE_CRIU_DEADLINE_S'),
        }),
      );
    }
    // A Criu's own, then the daemon config's on top of it for the phases it names.
    const criu = new Criu('/bin/false', { dumpMs: 2000 });
    expect(criu.deadlines).toEqual({ ...DEFAULT_CRIU_DEADLINES, dumpMs: 2000 });
    expect(criu.withDeadlines({ restoreMs: 1500 }).deadlines).toEqual({ ...DEFAULT_CRIU_DEADLINES, dumpMs: 2000, restoreMs: 1500 });
  });
});

describe('a criu that hangs', () => {
  it('in dump is killed with its tree at the deadline: PREBAKE_ERR_CRIU_TIMEOUT, no process, no half-written build', async () => {
    const criu = new Criu(await criuHanging('dump'), { dumpMs: 2000 });
    const dir = await sandbox.addFunction('hooks-node');
    const error = await prebakeFailure(
      buildFunction(await loadFunction(dir), { store: sandbox.store, criu, instances: sandbox.instances }),
    );
    expect(error.code).toBe('PREBAKE_ERR_CRIU_TIMEOUT');
    expect(error.message).toMatch(/^function "hooks-node": criu dump did not finish within 2 s and was killed/);
    expect(error.hint).toMatch(/prebake doctor/);
    expect(error.httpStatus).toBeGreaterThanOrEqual(500);
    expect(error.exitCode).toBe(9);
    expect(error.details).toMatchObject({ phase: 'dump', deadlineMs: 2000 });
    expect(error.functionName).toBe('hooks-node');
    await sandbox.expectClean();
    expect(await readdir(path.dirname(sandbox.store.functionBuildDir('hooks-node', 'x'))).catch(() => [])).toEqual([]);
    expect(sandboxMounts()).toEqual([]);
  }, 60_000);

  it('in restore is killed with the half-restored tree at the deadline, and nothing is left', async () => {
    const criu = new Criu(await criuHanging('restore'), { restoreMs: 2000 });
    const error = await prebakeFailure(invokeFunction({ target: 'faulty-node', event: '{}' }, sandbox.store, criu, sandbox.instances));
    expect(error.code).toBe('PREBAKE_ERR_CRIU_TIMEOUT');
    expect(error.message).toMatch(/^function "faulty-node": criu restore did not finish within 2 s and was killed/);
    expect(error.details).toMatchObject({ phase: 'restore', deadlineMs: 2000 });
    expect(error.functionName).toBe('faulty-node');
    await sandbox.expectClean();
    expect(sandboxMounts()).toEqual([]);
  }, 60_000);

  it("in one function's restore does not hold the daemon: another function, restored by the real criu, answers meanwhile", async () => {
    const criu = new Criu(await criuHanging('restore', 'faulty-node'));
    const server = await startServer({ ...sandbox, criu }, { fallback: false, criuDeadlines: { restoreMs: 8000 } });
    try {
      const hanging = server.invoke('faulty-node', {});
      expect(
        await settled(
          async () => ((await sandbox.processes()).some((line) => line.includes('hanging')) ? [] : ['no hung criu yet']),
          20_000,
        ),
      ).toEqual([]);
      const answered = await server.invoke('probe-node', {});
      expect(answered.status).toBe(200);
      expect(answered.headers.get('x-prebake-start')).toBe('prebaked');
      // Still hanging when the other function answered: the daemon served it meanwhile.
      expect((await sandbox.processes()).some((line) => line.includes('hanging'))).toBe(true);
      const failed = await hanging;
      expect(failed.status).toBe(500);
      expect(await apiError(failed)).toMatchObject({
        code: 'PREBAKE_ERR_CRIU_TIMEOUT',
        message: expect.stringMatching(/criu restore did not finish within 8 s/),
      });
    } finally {
      await server.close();
    }
    await sandbox.expectClean();
  }, 60_000);
});

describe('a criu killed by a signal during dump', () => {
  it("says the signal, and is the host's fault (5xx), not the function's", async () => {
    const file = path.join(sandbox.root, 'criu-killed-in-dump');
    await writeFile(file, `#!/bin/sh\n[ "$1" = dump ] && kill -KILL $$\nexec '${criuBinary()}' "$@"\n`);
    await chmod(file, 0o755);
    const dir = await sandbox.addFunction('hooks-node');
    const error = await prebakeFailure(
      buildFunction(await loadFunction(dir), { store: sandbox.store, criu: new Criu(file), instances: sandbox.instances }),
    );
    expect(error.code).toBe('PREBAKE_ERR_DUMP_INTERRUPTED');
    expect(error.message).toMatch(/criu dump was killed by SIGKILL/);
    expect(error.message).not.toMatch(/undefined|Unknown signal/);
    expect(error.httpStatus).toBe(500);
    await sandbox.expectClean();
  }, 60_000);
});
