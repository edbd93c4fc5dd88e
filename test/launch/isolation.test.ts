// Issue 18 §1 and §3: two functions at once cannot reach each other or the host through SysV IPC, POSIX queues,
// unix sockets or loopback ("network": "none"), what one creates in IPC ends with it, and no instance creates a
// user namespace unless its function opts in. Real criu, real Python, real listeners on the host.

import { createSocket, type Socket } from 'node:dgram';
import { cp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFunction } from '../../src/bake/build.ts';
import { loadFunction } from '../../src/manifest/load.ts';
import { startCold } from '../../src/start/cold.ts';
import { ForkTemplates, startForked } from '../../src/start/fork.ts';
import { startPrebaked } from '../../src/start/restore.ts';
import type { StartedInstance } from '../../src/start/started.ts';
import { deployedSpec, type StoredImage } from '../../src/store/store.ts';
import { answerSecret, FIXTURES, sandboxForFile, settled } from '../helpers.ts';

const sandboxOfFile = sandboxForFile();
/** What isolation-python answers: its namespaces, and what the operation found. */
interface Reply {
  ipcNs: string;
  netNs: string;
  userNs: string;
  planted?: Record<string, boolean>;
  reached?: Record<string, boolean>;
  userNamespaces?: { unshare: boolean; unshareCommand: string | null; clone: boolean; clone3: boolean; cloneForkFlags: boolean };
}
let templates: ForkTemplates | undefined;
// A key of this run's own: an object some earlier run (or anything else on the host) left under a fixed key would
// read as this run's leak.
const KEY = 0x10000 + Math.floor(Math.random() * 0x7ffe0000);
const hostListeners: Array<Server | Socket> = [];
let hostTcpPort = 0;
let hostUdpPort = 0;
const hostAbstract = `prebake-isolation-host-${process.pid}`;
let hostPathname = '';

const builds = new Map<string, Promise<StoredImage>>();

/**
 * A copy of isolation-python named `name`, with `changes` to its function.json, built once for the file: the
 * tests of each start mode share it (starting an instance leaves the image as it was).
 */
function build(name: string, changes: Record<string, unknown> = {}): Promise<StoredImage> {
  let built = builds.get(name);
  if (!built) {
    built = buildCopy(name, changes);
    builds.set(name, built);
  }
  return built;
}

async function buildCopy(name: string, changes: Record<string, unknown>): Promise<StoredImage> {
  const sandbox = sandboxOfFile();
  const dir = path.join(sandbox.root, 'functions', name);
  await cp(path.join(FIXTURES, 'isolation-python'), dir, { recursive: true });
  const manifest = JSON.parse(await readFile(path.join(dir, 'function.json'), 'utf8')) as Record<string, unknown>;
  await writeFile(path.join(dir, 'function.json'), JSON.stringify({ ...manifest, ...changes }));
  await buildFunction(await loadFunction(dir), { store: sandbox.store, criu: sandbox.criu, instances: sandbox.instances });
  return (await sandbox.store.get(name))!;
}

async function start(image: StoredImage, mode: 'cold' | 'prebaked' | 'fork'): Promise<StartedInstance> {
  const sandbox = sandboxOfFile();
  if (mode === 'prebaked') return startPrebaked(image, sandbox.store, sandbox.criu, sandbox.instances);
  if (mode === 'fork') {
    templates ??= new ForkTemplates(sandbox.store, sandbox.criu, sandbox.instances);
    return startForked(deployedSpec(image), image, templates);
  }
  return startCold(deployedSpec(image), image.meta.preparedDir, sandbox.store, sandbox.instances);
}

async function invoke(started: StartedInstance, event: unknown): Promise<Reply> {
  const { body } = await started.instance.invoke(JSON.stringify(event), { requestId: 'r', timeoutMs: 10_000 });
  return JSON.parse(body.toString('utf8')) as Reply;
}

/** A loopback port free on the host now (the victim listens on it in the host's network). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function end(started: StartedInstance): Promise<void> {
  await started.instance.end();
  await started.cleanup();
}

/** Host processes in the namespace `link` names (`ipc:[N]`). */
async function inNamespace(kind: string, link: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    if ((await readlink(`/proc/${entry}/ns/${kind}`).catch(() => '')) === link) found.push(Number(entry));
  }
  return found;
}

beforeAll(async () => {
  const tcp = createServer(answerSecret);
  await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
  hostTcpPort = (tcp.address() as { port: number }).port;
  const udp = createSocket('udp4', (message, peer) => udp.send(message, peer.port, peer.address));
  await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
  hostUdpPort = udp.address().port;
  const abstract = createServer(answerSecret);
  await new Promise<void>((resolve) => abstract.listen(`\0${hostAbstract}`, resolve));
  hostPathname = path.join(sandboxOfFile().root, 'host.sock');
  const pathname = createServer(answerSecret);
  await new Promise<void>((resolve) => pathname.listen(hostPathname, resolve));
  hostListeners.push(tcp, udp, abstract, pathname);
});

afterAll(async () => {
  await templates?.endAll();
  for (const listener of hostListeners) listener.close();
  await rm(hostPathname, { force: true });
});

describe.each(['none', 'outbound'] as const)('two functions at once ("network": "%s")', (network) => {
  it.each(['prebaked', 'cold', 'fork'] as const)(
    'cannot reach each other or the host, in %s mode, and leave no IPC behind',
    async (mode) => {
      const [a, b] = await Promise.all([build(`iso-a-${network}`, { network }), build(`iso-b-${network}`, { network })]);
      const name = `prebake-isolation-${network}-${mode}`;
      const port = 47771;
      const victim = await start(a, 'prebaked');
      let planted: Reply;
      try {
        planted = await invoke(victim, { op: 'plant', key: KEY, name, port });
        // Everything was made, so a failure to reach it below is the sandbox's doing.
        expect(planted.planted).toEqual({ shm: true, msg: true, sem: true, mqueue: true });
        // The victim reaches its own objects: the probe's checks can succeed.
        const own = await invoke(victim, { op: 'reach', key: KEY, name, port, hostAbstract, hostPathname, hostTcpPort, hostUdpPort });
        expect(own.reached).toMatchObject({
          shm: true,
          msg: true,
          sem: true,
          mqueue: true,
          abstract: true,
          pathname: true,
          tcp: true,
          udp: true,
        });
        const attacker = await start(b, mode);
        try {
          const seen = await invoke(attacker, { op: 'reach', key: KEY, name, port, hostAbstract, hostPathname, hostTcpPort, hostUdpPort });
          expect(seen.reached).toEqual({
            shm: false,
            msg: false,
            sem: false,
            mqueue: false,
            abstract: false,
            pathname: false,
            tcp: false,
            udp: false,
            hostAbstract: false,
            hostPathname: false,
            hostTcp: false,
            hostUdp: false,
            hostAbstractListed: false,
          });
          expect(seen.ipcNs).not.toBe(planted.ipcNs);
          expect(seen.netNs).not.toBe(planted.netNs);
        } finally {
          await end(attacker);
        }
      } finally {
        await end(victim);
      }
      // Its IPC namespace (and with it the segment, the queues and the semaphore) and its network namespace (the
      // sockets) ended with the instance: no process is left in them, and the host's own namespace never had them.
      expect(await settled(async () => (await inNamespace('ipc', planted.ipcNs)).map(String))).toEqual([]);
      expect(await settled(async () => (await inNamespace('net', planted.netNs)).map(String))).toEqual([]);
      const hostShm = await readFile('/proc/sysvipc/shm', 'utf8');
      expect(
        hostShm
          .split('\n')
          .slice(1)
          .some((line) => Number(line.trim().split(/\s+/)[0]) === KEY),
      ).toBe(false);
    },
  );
});

describe('two functions at once ("network": "host")', () => {
  it("cannot reach each other through IPC, yet share the host's loopback and abstract sockets", async () => {
    const [a, b] = await Promise.all([build('iso-a-host', { network: 'host' }), build('iso-b-host', { network: 'host' })]);
    const name = 'prebake-isolation-host-mode';
    const victim = await start(a, 'prebaked');
    try {
      const port = await freePort();
      expect((await invoke(victim, { op: 'plant', key: KEY, name, port })).planted).toEqual({
        shm: true,
        msg: true,
        sem: true,
        mqueue: true,
      });
      const attacker = await start(b, 'prebaked');
      try {
        const seen = await invoke(attacker, { op: 'reach', key: KEY, name, port, hostAbstract, hostPathname, hostTcpPort, hostUdpPort });
        // The IPC namespace holds in every network mode; the network is what "host" shares.
        expect(seen.reached).toEqual({
          shm: false,
          msg: false,
          sem: false,
          mqueue: false,
          abstract: true,
          pathname: false,
          tcp: true,
          udp: true,
          hostAbstract: true,
          hostPathname: false,
          hostTcp: true,
          hostUdp: true,
          hostAbstractListed: true,
        });
      } finally {
        await end(attacker);
      }
    } finally {
      await end(victim);
    }
  });
});

describe('user namespaces', () => {
  it.each(['prebaked', 'cold', 'fork'] as const)('cannot be created in %s mode unless the function opts in', async (mode) => {
    const [denied, allowed] = await Promise.all([build('userns-denied'), build('userns-allowed', { allowUserNamespaces: true })]);
    const deniedSeen = { unshare: false, unshareCommand: null, clone: false, clone3: false, cloneForkFlags: mode !== 'fork' };
    const allowedSeen = { unshare: true, unshareCommand: '0', clone: true, clone3: true, cloneForkFlags: true };
    for (const [image, expected] of [
      [denied, deniedSeen],
      [allowed, allowedSeen],
    ] as const) {
      const instance = await start(image, mode);
      try {
        expect((await invoke(instance, { op: 'userns' })).userNamespaces).toEqual(expected);
      } finally {
        await end(instance);
      }
    }
  });
});
