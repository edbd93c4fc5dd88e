// Issue 18 §3: paths in a function's env are checked against its view at build. `/tmp/...` is in every view, as
// the instance's own private /tmp (empty at launch, the snapshot's at restore), so it passes, and can never name
// the host's /tmp: a host file there is not what the instance loads. `/root/...` is in no view: refused.

import { randomBytes } from 'node:crypto';
import { cp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFunction } from '../../src/bake/build.ts';
import { loadFunction } from '../../src/manifest/load.ts';
import { FIXTURES, makeSandbox, prebakeFailure, type Sandbox } from '../helpers.ts';

let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await makeSandbox();
});

afterAll(() => sandbox.finish());

async function buildWithEnv(name: string, env: Record<string, string>) {
  const dir = path.join(sandbox.root, 'functions', name);
  await cp(path.join(FIXTURES, 'node-shim'), dir, { recursive: true });
  await writeFile(path.join(dir, 'function.json'), JSON.stringify({ runtime: 'node', handler: 'index.handler', env }));
  return buildFunction(await loadFunction(dir), { store: sandbox.store, criu: sandbox.criu, instances: sandbox.instances });
}

describe('an env path at build', () => {
  it("in /tmp passes the view check and names the instance's own /tmp, never the host's", async () => {
    const hostFile = path.join('/tmp', `prebake-view-check-${randomBytes(6).toString('hex')}.cjs`);
    // Harmless if loaded: were the host's /tmp in the view, the build would succeed.
    await writeFile(hostFile, "process.env.PREBAKE_HOST_HOOK = 'loaded';\n");
    try {
      const error = await prebakeFailure(buildWithEnv('env-tmp', { NODE_OPTIONS: `--require ${hostFile}` }));
      // Past the view check (which would be PREBAKE_ERR_OUTSIDE_VIEW): node started in the sandbox, where its
      // /tmp is empty, and could not load the file.
      expect(error.code).toBe('PREBAKE_ERR_INIT_FAILED');
      expect(error.message).toContain('the runtime exited during init');
    } finally {
      await rm(hostFile, { force: true });
    }
    expect(await sandbox.store.get('env-tmp')).toBeUndefined();
  });

  it('under /root is refused before anything runs', async () => {
    const error = await prebakeFailure(buildWithEnv('env-root', { NODE_OPTIONS: '--require /root/hook.js' }));
    expect(error.code).toBe('PREBAKE_ERR_OUTSIDE_VIEW');
    expect(error.message).toMatch(/env NODE_OPTIONS points to \/root\/hook\.js/);
  });
});
