// Every way a function can fail gets a clear, typed error and leaves nothing behind.
import { appendFile, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildFunction } from '../../src/bake/build.ts';
import { invokeFunction } from '../../src/invoke/invoke.ts';
import { loadFunction } from '../../src/manifest/load.ts';
import { startPrebaked } from '../../src/start/restore.ts';
import { makeSandbox, prebakeFailure, type Sandbox } from '../helpers.ts';

let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await makeSandbox();
  const dir = await sandbox.addFunction('faulty-node');
  await buildFunction(await loadFunction(dir), { store: sandbox.store, criu: sandbox.criu, instances: sandbox.instances });
});

afterEach(async () => {
  await sandbox.expectClean();
});

afterAll(async () => {
  await sandbox.cleanup();
});

const invoke = (event: string, mode?: 'cold' | 'prebaked', target = 'faulty-node') =>
  invokeFunction({ target, event, mode }, sandbox.store, sandbox.criu, sandbox.instances);

describe.each(['prebaked', 'cold'] as const)('in %s mode', (mode) => {
  it("reports a handler's error with its type and message", async () => {
    const error = await prebakeFailure(invoke('{"throw":"no such order"}', mode));
    expect(error.code).toBe('PREBAKE_ERR_FUNCTION_ERROR');
    expect(error.functionError).toMatchObject({ type: 'RangeError', message: 'no such order' });
    expect(error.message).toContain('faulty-node');
    expect(error.message).toContain('RangeError: no such order');
  });

  it('reports a handler that exits the process', async () => {
    const error = await prebakeFailure(invoke('{"exit":3}', mode));
    expect(error.code).toBe('PREBAKE_ERR_FUNCTION_EXITED');
    expect(error.message).toContain('faulty-node');
  });

  it("refuses a result over Lambda's 6 MB and ends the instance", async () => {
    const error = await prebakeFailure(invoke('{"big":7000000}', mode));
    expect(error.code).toBe('PREBAKE_ERR_RESULT_TOO_LARGE');
    expect(error.message).toMatch(/of \d+ bytes is over the limit of 6291456 bytes/);
  });

  it('cuts off a handler that never returns at timeoutMs', async () => {
    const started = Date.now();
    const error = await prebakeFailure(invoke('{"hang":true}', mode));
    expect(error.code).toBe('PREBAKE_ERR_TIMEOUT');
    expect(error.message).toContain('3000 ms');
    expect(Date.now() - started).toBeGreaterThanOrEqual(3000);
  });
});

describe('bad input', () => {
  it('refuses an event that is not JSON before starting anything', async () => {
    const error = await prebakeFailure(invoke('{"unterminated'));
    expect(error.code).toBe('PREBAKE_ERR_INVALID_EVENT');
  });

  it('names an unknown function', async () => {
    const error = await prebakeFailure(invoke('{}', undefined, 'no-such-function'));
    expect(error.code).toBe('PREBAKE_ERR_UNKNOWN_FUNCTION');
    expect(error.message).toContain('no-such-function');
  });
});

describe('a failing build', () => {
  it("carries the function's message when init throws", async () => {
    const dir = await sandbox.addFunction('init-throws-node');
    const error = await prebakeFailure(
      buildFunction(await loadFunction(dir), { store: sandbox.store, criu: sandbox.criu, instances: sandbox.instances }),
    );
    expect(error.code).toBe('PREBAKE_ERR_INIT_FAILED');
    expect(error.functionError?.message).toBe('cannot connect to the database at init');
    expect(error.message).toContain('init-throws-node');
    expect(await sandbox.store.get('init-throws-node')).toBeUndefined();
  });

  it('cuts off an init that never finishes at timeoutMs', async () => {
    const dir = await sandbox.addFunction('init-hangs-node');
    const error = await prebakeFailure(
      buildFunction(await loadFunction(dir), { store: sandbox.store, criu: sandbox.criu, instances: sandbox.instances }),
    );
    expect(error.code).toBe('PREBAKE_ERR_INIT_TIMEOUT');
    expect(error.message).toContain('1500 ms');
    expect(await sandbox.store.get('init-hangs-node')).toBeUndefined();
  });

  it('says to close sockets before the snapshot when criu cannot dump one', async () => {
    const dir = await sandbox.addFunction('socket-node');
    const error = await prebakeFailure(
      buildFunction(await loadFunction(dir), { store: sandbox.store, criu: sandbox.criu, instances: sandbox.instances }),
    );
    expect(error.code).toBe('PREBAKE_ERR_DUMP_FAILED');
    expect(error.message).toContain('socket-node');
    expect(error.hint).toMatch(/beforeCheckpoint/);
    expect(await sandbox.store.get('socket-node')).toBeUndefined();
  });

  it('builds a function that closes its socket before the snapshot and reopens it after', async () => {
    const dir = await sandbox.addFunction('socket-node');
    const spec = await loadFunction(dir);
    await buildFunction(
      { ...spec, env: { CLOSE_BEFORE_CHECKPOINT: '1' } },
      { store: sandbox.store, criu: sandbox.criu, instances: sandbox.instances },
    );
    const result = JSON.parse((await invoke('{}', 'prebaked', 'socket-node')).result);
    expect(result.listening).toBe(true);
    expect(result.port).toBeGreaterThan(0);
  });

  it('cuts off a plain start whose init never finishes', async () => {
    const error = await prebakeFailure(invoke('{}', 'cold', `${sandbox.root}/functions/init-hangs-node`));
    expect(error.code).toBe('PREBAKE_ERR_INIT_TIMEOUT');
  });
});

describe('a failing restore', () => {
  it('says what changed since the build, naming the function once', async () => {
    // The only host files an instance sees are read-only binds: the function's own directory (seen as
    // /var/task), the runtime, /usr. A file there that changes makes the image stale before any restore is
    // tried, so the restore is started directly, as a changed runtime or system file would be met.
    const dir = await sandbox.addFunction('open-file-node');
    const dataFile = path.join(dir, 'data.txt');
    await writeFile(dataFile, 'six b\n');
    const manifestFile = path.join(dir, 'function.json');
    const manifest = JSON.parse(await readFile(manifestFile, 'utf8'));
    await writeFile(manifestFile, JSON.stringify({ ...manifest, env: { DATA_FILE: '/var/task/data.txt' } }));
    await buildFunction(await loadFunction(dir), { store: sandbox.store, criu: sandbox.criu, instances: sandbox.instances });
    expect(JSON.parse((await invoke('{}', 'prebaked', 'open-file-node')).result)).toEqual({ size: 6 });
    const restore = async () => {
      const started = await startPrebaked((await sandbox.store.get('open-file-node'))!, sandbox.store, sandbox.criu, sandbox.instances);
      await started.instance.end();
      await started.cleanup();
    };

    // Instances run the build's copy of the code (/var/task binds it): the source is not what they hold open.
    const deployedFile = path.join((await sandbox.store.get('open-file-node'))!.codeDir, 'data.txt');
    await appendFile(deployedFile, 'and more\n');
    const grown = await prebakeFailure(restore());
    expect(grown.code).toBe('PREBAKE_ERR_RESTORE_FAILED');
    expect(grown.message).toContain('/var/task/data.txt changed size since the build (6 bytes then, 15 now)');
    expect(grown.message.split('open-file-node')).toHaveLength(2);
    expect(grown.message).not.toContain('afterRestore');
    expect(grown.hint).toContain('afterRestore');

    await rm(deployedFile);
    const gone = await prebakeFailure(restore());
    expect(gone.message).toContain('/var/task/data.txt is gone since the build');
  });
});
