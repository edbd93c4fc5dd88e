// Which restore failures mark an image for rebuild: a failure of the image does; a failure of the host (criu
// killed, a full disk) does not, so one bad moment does not send every later call to a plain start.
import { chmod, cp, mkdir, open, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildFunction } from '../../src/bake/build.ts';
import { Criu } from '../../src/criu/criu.ts';
import { Host } from '../../src/host/host.ts';
import { invokeFunction } from '../../src/invoke/invoke.ts';
import { loadFunction } from '../../src/manifest/load.ts';
import { criuBinary } from '../../src/paths.ts';
import { ImageStore } from '../../src/store/store.ts';
import { FIXTURES, makeSandbox, prebakeFailure, type Sandbox } from '../helpers.ts';

let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await makeSandbox();
  await sandbox.build('faulty-node');
});

afterEach(async () => {
  await sandbox.expectClean();
});

afterAll(() => sandbox.cleanup());

/** A criu that runs the real one, except that `restore` does what `onRestore` (shell) says first. */
async function criuThat(name: string, onRestore: string): Promise<Criu> {
  const file = path.join(sandbox.root, `criu-${name}`);
  await writeFile(file, `#!/bin/sh\nif [ "$1" = restore ]; then ${onRestore}; fi\nexec '${criuBinary()}' "$@"\n`);
  await chmod(file, 0o755);
  return new Criu(file);
}

async function withHost<T>(store: ImageStore, criu: Criu, config: object, run: (host: Host) => Promise<T>): Promise<T> {
  const host = new Host({ home: store.home, criu, config });
  try {
    return await run(host);
  } finally {
    await host.shutdown();
  }
}

const invoke = (host: Host, n: number) => host.invoke({ target: 'faulty-node', event: JSON.stringify({ n }), requestId: `r${n}` });

describe('a restore that fails', () => {
  it('because criu was killed falls back without marking the image, and the next call restores again', async () => {
    const killed = await criuThat('killed', 'kill -KILL $$');
    await withHost(sandbox.store, killed, {}, async (host) => {
      for (const n of [1, 2]) {
        const outcome = await invoke(host, n);
        expect(outcome.start).toBe('cold');
        expect(JSON.parse(outcome.result)).toMatchObject({ echo: { n } });
        expect((await host.describe('faulty-node')).needsRebuild).toBe(false);
      }
      // Both calls tried the image: the first failure did not send the second to a plain start.
      expect((await host.describe('faulty-node')).counters).toMatchObject({ restoreFailures: 2, fallbacks: 2 });
    });
    await withHost(sandbox.store, killed, { fallback: false }, async (host) => {
      const error = await prebakeFailure(invoke(host, 3));
      expect(error.code).toBe('PREBAKE_ERR_RESTORE_FAILED');
      expect(error.message).toMatch(/criu was killed by SIGKILL/);
    });
  });

  it('because memory ran out falls back without marking the image', async () => {
    // criu's own words for ENOMEM, in its log, as a restore that could not map the image's memory writes them.
    const noMemory = await criuThat(
      'no-memory',
      `log=$(printf '%s\\n' "$@" | sed -n '/^--log-file$/{n;p}'); echo "Error (criu/mem.c:1): Can't mmap premap area: Cannot allocate memory" > "$log"; exit 1`,
    );
    await withHost(sandbox.store, noMemory, {}, async (host) => {
      expect((await invoke(host, 1)).start).toBe('cold');
      expect((await host.describe('faulty-node')).needsRebuild).toBe(false);
    });
    await withHost(sandbox.store, noMemory, { fallback: false }, async (host) => {
      expect((await prebakeFailure(invoke(host, 2))).message).toMatch(/the host ran out of memory/);
    });
  });

  it('because criu failed on the image marks it for rebuild', async () => {
    await withHost(sandbox.store, await criuThat('failing', 'exit 1'), {}, async (host) => {
      expect((await invoke(host, 1)).start).toBe('cold');
      expect((await host.describe('faulty-node')).needsRebuild).toBe(true);
    });
  });
});

describe('a full disk during a restore', () => {
  let mountPoint: string;
  let store: ImageStore;

  beforeAll(async () => {
    mountPoint = path.join(sandbox.root, 'small-disk');
    await mkdir(mountPoint);
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=48m', 'prebake-test', mountPoint]);
    store = new ImageStore(path.join(mountPoint, 'home'));
    const dir = path.join(sandbox.root, 'functions', 'faulty-small');
    await cp(path.join(FIXTURES, 'faulty-node'), dir, { recursive: true });
    await buildFunction(await loadFunction(dir), { store, criu: sandbox.criu, instances: sandbox.instances });
    // Fill what is left of the disk.
    const filler = await open(path.join(mountPoint, 'filler'), 'w');
    try {
      const block = Buffer.alloc(1024 * 1024);
      for (;;) await filler.write(block);
    } catch (error) {
      expect((error as NodeJS.ErrnoException).code).toBe('ENOSPC');
    } finally {
      await filler.close();
    }
  });

  afterAll(async () => {
    await execa('umount', ['--lazy', mountPoint]);
  });

  it('is a platform error (RESTORE_FAILED, the disk named), not the function exiting', async () => {
    const error = await prebakeFailure(invokeFunction({ target: 'faulty-small', event: '{}' }, store, sandbox.criu, sandbox.instances));
    expect(error.code).toBe('PREBAKE_ERR_RESTORE_FAILED');
    expect(error.message).toMatch(/disk holding the store is full/);
    expect(error.details?.transient).toBeTruthy();
  });

  it('in the daemon falls back without marking the image for rebuild', async () => {
    await withHost(store, sandbox.criu, {}, async (host) => {
      const outcome = await host.invoke({ target: 'faulty-small', event: '{"n":5}', requestId: 'full' });
      expect(outcome.start).toBe('cold');
      expect((await host.describe('faulty-small')).needsRebuild).toBe(false);
    });
  });
});
