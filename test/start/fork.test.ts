// Fork mode with real criu and real Python: a template restored once, a fresh child per start, each child with
// its own channel, cgroup, /tmp, PID namespace and seed; the template survives its children's failures.
import { cp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildFunction } from '../../src/bake/build.ts';
import { childrenOf } from '../../src/launch/proc.ts';
import { loadFunction } from '../../src/manifest/load.ts';
import { ForkTemplates, startForked } from '../../src/start/fork.ts';
import { ForkTemplate } from '../../src/start/fork-template.ts';
import type { StartedInstance } from '../../src/start/started.ts';
import { deployedSpec, type StoredImage } from '../../src/store/store.ts';
import { ownCgroups, prebakeFailure, sandboxForFile, settled } from '../helpers.ts';

const sandboxOfFile = sandboxForFile('faulty-python', 'random-python', 'limits-python', 'threads-python', 'faulty-node');
let templates: ForkTemplates | undefined;

afterAll(async () => {
  await templates?.endAll();
});

function templatesOf(): ForkTemplates {
  const sandbox = sandboxOfFile();
  templates ??= new ForkTemplates(sandbox.store, sandbox.criu, sandbox.instances);
  return templates;
}

async function image(name: string): Promise<StoredImage> {
  return (await sandboxOfFile().store.get(name))!;
}

async function fork(name: string): Promise<StartedInstance> {
  const built = await image(name);
  return startForked(deployedSpec(built), built, templatesOf());
}

/** Starts a child of `name`'s template, runs `event` once, ends the child: the result, or the error's code and message. */
async function invokeChild(name: string, event: unknown): Promise<Record<string, unknown>> {
  const child = await fork(name);
  try {
    const { body } = await child.instance.invoke(JSON.stringify(event), { requestId: 'r', timeoutMs: 5_000 });
    expect(child.kind).toBe('fork');
    return JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  } catch (error) {
    const { code, message } = error as { code: string; message: string };
    return { code, message };
  } finally {
    await child.instance.end();
  }
}

describe('fork mode', () => {
  it("gives each child a /tmp of its own holding the snapshot's, a PID namespace of its own, and no capability", async () => {
    const first = await invokeChild('faulty-python', { write: 'written-by-first', append: 'abc' });
    const second = await invokeChild('faulty-python', { append: 'abc' });
    expect(first.tmp).toEqual(['from-init.txt', 'held.log', 'written-by-first']);
    expect(second.tmp).toEqual(['from-init.txt', 'held.log']);
    // Files held open since init: each child appends to its own copy, never to the template's.
    for (const seen of [first, second]) expect([seen.held, seen.unnamed]).toEqual([3, 3]);
    for (const seen of [first, second]) {
      expect(seen.pid).toBe(1);
      expect(seen.procPids).toEqual([1]);
      expect(seen.capEff).toBe('0000000000000000');
      expect(seen.uid).toBe(1000);
      // Its own pipes on 0 to 4, the function's two files (5, 6) and the directory listing them: none of the
      // template's pipes.
      expect(seen.fds).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    }
    expect(first.cgroup).not.toBe(second.cgroup);
  });

  it('reseeds every child with its own seed', async () => {
    const results = await Promise.all([1, 2, 3].map(() => invokeChild('random-python', {})));
    for (const field of ['random', 'uuid', 'ssl', 'tempfile']) {
      expect(new Set(results.map((result) => result[field])).size, field).toBe(3);
    }
  });

  it("holds each child to the function's memory limit, and the template survives the kill", async () => {
    const over = await invokeChild('limits-python', { allocMb: 128 });
    expect(over.code).toBe('PREBAKE_ERR_OUT_OF_MEMORY');
    const after = await invokeChild('limits-python', {});
    expect(after.cgroup).toMatch(/memory:\/prebake/);
  });

  it('reports a child that exits or crashes as any instance, and forks the next from the same template', async () => {
    const template = await templatesOf().forImage(await image('faulty-python'));
    const exited = await invokeChild('faulty-python', { exit: 3 });
    expect(exited.code).toBe('PREBAKE_ERR_FUNCTION_EXITED');
    expect(exited.message).toMatch(/exit code 3/);
    const crashed = await invokeChild('faulty-python', { crash: true });
    expect(crashed.code).toBe('PREBAKE_ERR_FUNCTION_EXITED');
    expect(crashed.message).toMatch(/SIGSEGV/);
    expect((await invokeChild('faulty-python', {})).pid).toBe(1);
    expect(await templatesOf().forImage(await image('faulty-python'))).toBe(template);
    expect(template.alive).toBe(true);
  });

  it('forks the next child once a child ends, hands it to the next invocation only, and keeps no more than one', async () => {
    const template = await templatesOf().forImage(await image('faulty-python'));
    const first = await fork('faulty-python');
    const firstPid = await first.instance.initPid();
    await first.instance.end();
    expect(await template.spareReady()).toBe(true);
    // Ready: the template has forked it and let go of its pipes (the first may not be reaped yet).
    const waiting = (await childrenOf(template.pid)).filter((pid) => pid !== firstPid);
    expect(waiting).toHaveLength(1);
    const second = await fork('faulty-python');
    try {
      expect(await second.instance.initPid()).toBe(waiting[0]);
      const { body } = await second.instance.invoke('{}', { requestId: 'r', timeoutMs: 5_000 });
      expect(JSON.parse(body.toString('utf8'))).toMatchObject({ pid: 1, capEff: '0000000000000000' });
    } finally {
      await second.instance.end();
    }
    expect(await template.spareReady()).toBe(true);
    expect(await settled(async () => ((await childrenOf(template.pid)).length === 1 ? [] : ['more than one child']))).toEqual([]);
  });

  it('gives each child of a "network": "none" function a network namespace of its own, with loopback up', async () => {
    const sandbox = sandboxOfFile();
    const dir = path.join(sandbox.root, 'functions', 'offline-python');
    await cp(path.join(sandbox.root, 'functions', 'faulty-python'), dir, { recursive: true });
    const manifest = JSON.parse(await readFile(path.join(dir, 'function.json'), 'utf8')) as Record<string, unknown>;
    await writeFile(path.join(dir, 'function.json'), JSON.stringify({ ...manifest, name: 'offline-python', network: 'none' }));
    await buildFunction(await loadFunction(dir), { store: sandbox.store, criu: sandbox.criu, instances: sandbox.instances });
    const children = [await invokeChild('offline-python', {}), await invokeChild('offline-python', {})];
    for (const child of children) expect([child.netDevices, child.loopback]).toEqual([['lo'], true]);
    expect(children[0]!.netns).not.toBe(children[1]!.netns);
    const online = await invokeChild('faulty-python', {});
    expect((online.netDevices as string[]).length).toBeGreaterThan(1);
  });

  it('replaces a template that was ended or killed', async () => {
    const ended = await templatesOf().forImage(await image('faulty-python'));
    await ended.end();
    expect((await invokeChild('faulty-python', {})).tmp).toEqual(['from-init.txt', 'held.log']);
    const killed = await templatesOf().forImage(await image('faulty-python'));
    expect(killed).not.toBe(ended);
    process.kill(killed.pid, 'SIGKILL');
    // At once: the fork either finds the template dead, or runs into its death and forks from a new one.
    expect((await invokeChild('faulty-python', {})).tmp).toEqual(['from-init.txt', 'held.log']);
    expect(killed.alive).toBe(false);
    expect(await templatesOf().forImage(await image('faulty-python'))).not.toBe(killed);
  });

  it('refuses a Node function and a Python process with two threads at the snapshot, leaving nothing behind', async () => {
    const sandbox = sandboxOfFile();
    const before = new Set(ownCgroups());
    const node = await prebakeFailure(ForkTemplate.restore(await image('faulty-node'), sandbox.store, sandbox.criu, sandbox.instances));
    expect(node.code).toBe('PREBAKE_ERR_FORK_UNSUPPORTED');
    expect(node.message).toMatch(/faulty-node.*node/);
    const threads = await prebakeFailure(
      ForkTemplate.restore(await image('threads-python'), sandbox.store, sandbox.criu, sandbox.instances),
    );
    expect(threads.code).toBe('PREBAKE_ERR_FORK_UNSUPPORTED');
    expect(threads.message).toMatch(/threads-python.*2 threads/);
    // The two-threaded template was restored, then ended: its cgroup is gone.
    expect(await settled(async () => ownCgroups().filter((name) => !before.has(name)))).toEqual([]);
  });

  it('ends every template and child: no process or cgroup is left', async () => {
    const child = await fork('faulty-python');
    await templatesOf().endAll();
    await child.instance.end();
    expect(await settled(async () => ownCgroups())).toEqual([]);
    expect(await settled(() => sandboxOfFile().processes())).toEqual([]);
    expect(templatesOf().size).toBe(0);
  });
});
