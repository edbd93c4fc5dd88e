// Issue 18 §1: "network": "outbound" (the default) reaches a server outside the instance, here one in a network
// namespace this test makes (never an outside address), but not the host's loopback or abstract sockets; "none"
// reaches nothing; the egress helper and its interface go with the instance; the image holds lo only.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { cp, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFunction } from '../../src/bake/build.ts';
import { attachOutbound } from '../../src/launch/outbound.ts';
import { loadFunction } from '../../src/manifest/load.ts';
import { startCold } from '../../src/start/cold.ts';
import { ForkTemplates, startForked } from '../../src/start/fork.ts';
import { resumeClone, startPrebaked } from '../../src/start/restore.ts';
import type { StartedInstance } from '../../src/start/started.ts';
import { deployedSpec, type StoredImage } from '../../src/store/store.ts';
import { answerSecret, FIXTURES, sandboxForFile, settled } from '../helpers.ts';

const sandboxOfFile = sandboxForFile();
// A network namespace of the test's own, joined to the host by a veth pair: the "outside" server lives there.
const NETNS = `prebake-out-${process.pid}`;
const HOST_SIDE = `pbo${process.pid % 100000}`;
const OUTSIDE_ADDRESS = '10.213.7.2';
const OUTSIDE_PORT = 18080;
let outsideServer: ChildProcess | undefined;
let hostServer: Server | undefined;
let hostTcpPort = 0;
const hostAbstract = `prebake-outbound-host-${process.pid}`;
let hostAbstractServer: Server | undefined;
let templates: ForkTemplates | undefined;

interface Egress {
  outside: boolean;
  /** Whether init reached the outside server (at the build for a prebaked clone). */
  atInit: boolean | null;
  hostViaGateway: boolean;
  interfaces: string[];
}
interface Reply {
  netNs: string;
  egress?: Egress;
  reached?: Record<string, boolean>;
}

async function build(name: string, changes: Record<string, unknown>): Promise<StoredImage> {
  const sandbox = sandboxOfFile();
  const dir = path.join(sandbox.root, 'functions', name);
  await cp(path.join(FIXTURES, 'isolation-python'), dir, { recursive: true });
  const manifest = JSON.parse(await readFile(path.join(dir, 'function.json'), 'utf8')) as Record<string, unknown>;
  delete manifest.network;
  await writeFile(path.join(dir, 'function.json'), JSON.stringify({ ...manifest, ...changes }));
  await buildFunction(await loadFunction(dir), { store: sandbox.store, criu: sandbox.criu, instances: sandbox.instances });
  return (await sandbox.store.get(name))!;
}

async function start(image: StoredImage, mode: 'cold' | 'prebaked' | 'pooled' | 'fork' | 'fork (a spare)'): Promise<StartedInstance> {
  const sandbox = sandboxOfFile();
  if (mode === 'prebaked') return startPrebaked(image, sandbox.store, sandbox.criu, sandbox.instances);
  if (mode === 'pooled') {
    // As the clone pool does: restored (and attached) ahead, resumed when an invocation takes it.
    const started = await startPrebaked(image, sandbox.store, sandbox.criu, sandbox.instances, { resume: false });
    await resumeClone(started.instance, image.meta.spec.timeoutMs);
    return started;
  }
  if (mode === 'fork') {
    templates ??= new ForkTemplates(sandbox.store, sandbox.criu, sandbox.instances);
    return startForked(deployedSpec(image), image, templates);
  }
  if (mode === 'fork (a spare)') {
    // The child the template forked ahead once the previous one ended: its egress was attached ahead too.
    const first = await start(image, 'fork');
    await first.instance.end();
    const template = await templates!.forImage(image);
    expect(await template.spareReady()).toBe(true);
    // The spare, the template's one child now (the first may take a moment to be reaped), has its helper already.
    const spare = await settled(async () => {
      const children = (await readFile(`/proc/${template.pid}/task/${template.pid}/children`, 'utf8')).trim().split(/\s+/).filter(Boolean);
      return children.length === 1 ? [] : children;
    }).then(async () => Number((await readFile(`/proc/${template.pid}/task/${template.pid}/children`, 'utf8')).trim()));
    expect(await helpersOf(spare)).toHaveLength(1);
    const second = await startForked(deployedSpec(image), image, templates!);
    expect(await second.instance.initPid()).toBe(spare);
    return second;
  }
  return startCold(deployedSpec(image), image.meta.preparedDir, sandbox.store, sandbox.instances);
}

async function invoke(started: StartedInstance, event: unknown): Promise<Reply> {
  const { body } = await started.instance.invoke(JSON.stringify(event), { requestId: 'r', timeoutMs: 10_000 });
  return JSON.parse(body.toString('utf8')) as Reply;
}

const egressEvent = () => ({ op: 'egress', outside: [OUTSIDE_ADDRESS, OUTSIDE_PORT], hostTcpPort });

/** slirp4netns helpers working for the instance whose init is `pid`. */
async function helpersOf(pid: number): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const argv = (await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (argv[0]?.endsWith('slirp4netns') && argv.includes(String(pid))) found.push(`${entry}: ${argv.join(' ')}`);
  }
  return found;
}

async function inNetNamespace(link: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir('/proc')) {
    if (/^\d+$/.test(entry) && (await readlink(`/proc/${entry}/ns/net`).catch(() => '')) === link) found.push(entry);
  }
  return found;
}

/** Runs `ip`, with its own words in the error when it fails. */
function ip(...args: string[]): void {
  try {
    execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    throw new Error(`ip ${args.join(' ')}: ${String((error as { stderr?: Buffer }).stderr ?? '').trim() || (error as Error).message}`);
  }
}

/**
 * The "outside": a network namespace with a veth pair to the host. Made again from scratch when a step fails:
 * on this VM a step in a namespace just made failed once in a few whole-suite runs (`link set eth0 up`, with
 * three test files at once), and passed on the next try.
 */
function makeOutside(): void {
  for (let attempt = 1; ; attempt++) {
    try {
      ip('netns', 'add', NETNS);
      ip('link', 'add', HOST_SIDE, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NETNS);
      ip('addr', 'add', '10.213.7.1/30', 'dev', HOST_SIDE);
      ip('link', 'set', HOST_SIDE, 'up');
      ip('-n', NETNS, 'addr', 'add', `${OUTSIDE_ADDRESS}/30`, 'dev', 'eth0');
      ip('-n', NETNS, 'link', 'set', 'eth0', 'up');
      return;
    } catch (error) {
      try {
        ip('netns', 'delete', NETNS);
      } catch {
        // not made yet
      }
      if (attempt === 3) throw error;
      console.warn(`the outside network, attempt ${attempt}: ${(error as Error).message}`);
    }
  }
}

beforeAll(async () => {
  makeOutside();
  const server = `import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('${OUTSIDE_ADDRESS}', ${OUTSIDE_PORT})); s.listen()
print('listening', flush=True)
while True:
    c, _ = s.accept(); c.sendall(b'hello from outside'); c.close()`;
  outsideServer = spawn('ip', ['netns', 'exec', NETNS, 'python3', '-c', server], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    outsideServer!.stdout!.once('data', () => resolve());
    outsideServer!.once('exit', (code) => reject(new Error(`the outside server exited (${code})`)));
  });
  hostServer = createServer(answerSecret);
  await new Promise<void>((resolve) => hostServer!.listen(0, '127.0.0.1', resolve));
  hostTcpPort = (hostServer.address() as { port: number }).port;
  hostAbstractServer = createServer(answerSecret);
  await new Promise<void>((resolve) => hostAbstractServer!.listen(`\0${hostAbstract}`, resolve));
});

afterAll(async () => {
  await templates?.endAll();
  hostServer?.close();
  hostAbstractServer?.close();
  if (outsideServer && outsideServer.exitCode === null) {
    outsideServer.kill('SIGKILL');
    await new Promise((resolve) => outsideServer!.once('exit', resolve));
  }
  // Deleting the namespace takes its end of the veth pair, and with it the host's.
  ip('netns', 'delete', NETNS);
});

describe('"network": "outbound" (the default)', () => {
  let image: StoredImage;
  beforeAll(async () => {
    image = await build('outbound-default', { env: { PROBE_OUTSIDE: `${OUTSIDE_ADDRESS}:${OUTSIDE_PORT}` } });
  });

  it('is the mode a function.json without "network" gets, reaches the outside at init, and its image holds lo only', async () => {
    expect(image.meta.spec.network).toBe('outbound');
    expect(image.meta.sandbox.network).toBe('outbound');
    // The build's egress was taken away before the dump: a tap device in the image would be in every clone.
    const netdev = (await readdir(image.imageDir)).filter((name) => name.startsWith('netdev-'));
    expect(netdev).toHaveLength(1);
    // The devices' names are plain strings in the protobuf image.
    const dumped = await readFile(path.join(image.imageDir, netdev[0]!));
    expect(dumped.includes('lo')).toBe(true);
    expect(dumped.includes('tap0')).toBe(false);
  });

  it.each(['prebaked', 'pooled', 'cold', 'fork', 'fork (a spare)'] as const)(
    "reaches a server outside in %s mode, not the host's loopback or abstract sockets; nothing is left after",
    async (mode) => {
      const started = await start(image, mode);
      const pid = await started.instance.initPid();
      let netNs: string;
      try {
        const seen = await invoke(started, egressEvent());
        netNs = seen.netNs;
        expect(seen.egress).toEqual({ outside: true, atInit: true, hostViaGateway: false, interfaces: ['lo', 'tap0'] });
        const reached = await invoke(started, {
          op: 'reach',
          key: 0x7275,
          name: 'nothing',
          port: 1,
          hostAbstract,
          hostPathname: '/nonexistent',
          hostTcpPort,
          hostUdpPort: 1,
        });
        expect(reached.reached).toMatchObject({ hostAbstract: false, hostTcp: false, hostAbstractListed: false });
        expect(await helpersOf(pid)).toHaveLength(1);
      } finally {
        await started.instance.end();
        await started.cleanup();
      }
      expect(await settled(() => helpersOf(pid))).toEqual([]);
      expect(await settled(() => inNetNamespace(netNs))).toEqual([]);
    },
  );
});

describe('"network": "none"', () => {
  it('reaches no server outside', async () => {
    const image = await build('outbound-none', { network: 'none', env: { PROBE_OUTSIDE: `${OUTSIDE_ADDRESS}:${OUTSIDE_PORT}` } });
    const started = await start(image, 'prebaked');
    try {
      const seen = await invoke(started, egressEvent());
      expect(seen.egress).toEqual({ outside: false, atInit: false, hostViaGateway: false, interfaces: ['lo'] });
      expect(await helpersOf(await started.instance.initPid())).toEqual([]);
    } finally {
      await started.instance.end();
      await started.cleanup();
    }
  });
});

describe('"network": "host", and images built when it was called "default"', () => {
  it("keeps the recorded mode: a restored clone is in the host's network", async () => {
    const built = await build('legacy-host', { network: 'host' });
    const metaFile = path.join(built.buildDir, 'meta.json');
    const meta = JSON.parse(await readFile(metaFile, 'utf8')) as { spec: { network: string }; sandbox: { network: string } };
    meta.spec.network = 'default';
    meta.sandbox.network = 'default';
    await writeFile(metaFile, JSON.stringify(meta));
    const image = (await sandboxOfFile().store.get('legacy-host'))!;
    expect(image.meta.spec.network).toBe('host');
    expect(image.meta.sandbox.network).toBe('host');
    const started = await start(image, 'prebaked');
    try {
      const seen = await invoke(started, egressEvent());
      expect(seen.netNs).toBe(await readlink('/proc/self/ns/net'));
      expect(seen.egress?.interfaces).not.toContain('tap0');
      expect(seen.egress?.interfaces).toContain('lo');
      expect(await helpersOf(await started.instance.initPid())).toEqual([]);
    } finally {
      await started.instance.end();
      await started.cleanup();
    }
  });
});

describe('attachOutbound', () => {
  it('fails with PREBAKE_ERR_NETWORK, naming the function, when the helper cannot attach, and leaves no helper', async () => {
    // A pid that no process has: the helper cannot open its network namespace and exits.
    const nobody = 2 ** 22 + 1;
    await expect(attachOutbound(nobody, [], 'no-such-instance')).rejects.toMatchObject({
      code: 'PREBAKE_ERR_NETWORK',
      message: expect.stringContaining('function "no-such-instance"'),
    });
    expect(await settled(() => helpersOf(nobody))).toEqual([]);
  });
});
