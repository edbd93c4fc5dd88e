// Issue 13's "seen from inside an instance", asserted for each runtime's probe in every start mode: build (what
// the init saw, kept in the snapshot), cold, prebaked, warm and (Python) fork (through the daemon), plus /tmp privacy, a /tmp
// file grown after the build, "network": "none", and paths outside the view refused at build.
import { cp, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFunction } from '../../src/bake/build.ts';
import { isPrebakeError } from '../../src/errors.ts';
import { hostIdBase, ID_BLOCK } from '../../src/launch/host-ids.ts';
import { HOST_ID_BASE } from '../../src/launch/sandbox-plan.ts';
import { INSTANCE_ID } from '../../src/launch/view-ops.ts';
import { loadFunction } from '../../src/manifest/load.ts';
import { makeSandbox, type Sandbox } from '../helpers.ts';
import { closeAndClean, registerFixture, startServer, type TestServer } from '../server/harness.ts';

interface Report {
  uid: number;
  capEff: string;
  hostUid: number;
  readable: Record<string, boolean>;
  writable: Record<string, boolean>;
  visible: Record<string, boolean>;
  signalled: number[];
  procPids: number[];
  tmp: string[];
  tmpBytes: number;
  netDevices: string[];
}
type Probe = Report & { atInit: Report };

const PROBES = [
  { name: 'probe-node', code: '/var/task/index.js' },
  { name: 'probe-python', code: '/var/task/main.py' },
  { name: 'probe-java', code: '/var/task/Probe.java' },
];
const MODES = ['cold', 'prebaked', 'warm'] as const;
type Mode = (typeof MODES)[number] | 'fork';
const PROBE_TMP_MB = 16; // the probes' function.json

let sandbox: Sandbox;
let server: TestServer;

beforeAll(async () => {
  sandbox = await makeSandbox();
  server = await startServer(sandbox);
  for (const probe of PROBES) await registerFixture(server, sandbox, probe.name);
});

afterAll(() => closeAndClean(server, sandbox));

async function probe(name: string, mode: Mode, event: Record<string, unknown> = {}): Promise<Probe> {
  const response = await server.invoke(name, event, `?mode=${mode}`);
  expect(response.status).toBe(200);
  return (await response.json()) as Probe;
}

// Host paths an instance must not see: prebake's home (images, other functions, logs), the test's whole
// world, another function's directory.
const hostPaths = () => [sandbox.home, sandbox.root, path.join(sandbox.root, 'functions', 'probe-python'), '/var/lib'];

/** `hostBase`: the function's first host id (launch/host-ids.ts), its user namespace's root. */
function expectSandboxed(report: Report, code: string, hostBase: number): void {
  expect(report.uid).toBe(INSTANCE_ID);
  expect(report.hostUid).toBe(hostBase);
  expect(report.capEff).toBe('0000000000000000');
  // The CA certificates and /dev/null are the skeleton's own copies and nodes (or binds where the store's
  // filesystem allows no device nodes): there all the same.
  expect(report.readable).toEqual({ '/etc/shadow': false, [code]: true, '/etc/passwd': true, '/etc/ssl/certs/ca-certificates.crt': true });
  expect(report.writable).toEqual({
    '/var/task/new': false,
    '/new': false,
    '/usr/new': false,
    '/etc/new': false,
    '/proc/sys/kernel/core_pattern': false,
    '/tmp/new': true,
    '/dev/null': true,
  });
  expect(report.procPids).toEqual([1]);
  expect(report.tmpBytes).toBe(PROBE_TMP_MB * 1024 * 1024);
  expect(report.tmp).toEqual(expect.arrayContaining(['from-init.txt', 'grown.log']));
}

describe.each(PROBES)('$name, seen from inside', ({ name, code }) => {
  it.each(MODES)('in %s mode (and at build) is an unprivileged, private view', async (mode) => {
    const paths = hostPaths();
    const report = await probe(name, mode, { paths, pids: [process.pid] });
    for (const seen of [report, report.atInit]) expectSandboxed(seen, code, await hostIdBase(sandbox.home, name));
    expect(report.visible).toEqual(Object.fromEntries(paths.map((p) => [p, false])));
    expect(report.signalled).toEqual([]);
    // "outbound" by default: loopback and the tap device of its egress, not the host's interfaces.
    expect([...report.netDevices].sort()).toEqual(['lo', 'tap0']);
  });

  it('gives every prebaked clone the /tmp of the snapshot, never what another clone wrote', async () => {
    const first = await probe(name, 'prebaked', { write: 'secret-1' });
    const second = await probe(name, 'prebaked');
    expect(first.tmp).toEqual(['from-init.txt', 'grown.log']);
    expect(second.tmp).toEqual(['from-init.txt', 'grown.log']);
    const cold = await probe(name, 'cold');
    expect(cold.tmp).toEqual(['from-init.txt', 'grown.log']);
  });

  it('restores after a clone grew a file it held open in /tmp since the snapshot', async () => {
    await probe(name, 'prebaked', { grow: true });
    const next = await probe(name, 'prebaked', { grow: true });
    expect(next.tmp).toEqual(['from-init.txt', 'grown.log']);
  });
});

describe('host ids', () => {
  it('are a block of their own for each function, none of them the block every instance shared before', async () => {
    const bases = await Promise.all(PROBES.map((p) => hostIdBase(sandbox.home, p.name)));
    const reports = await Promise.all(PROBES.map((p) => probe(p.name, 'prebaked')));
    expect(reports.map((report) => report.hostUid)).toEqual(bases);
    for (const [i, base] of bases.entries()) {
      expect(base).toBeGreaterThanOrEqual(HOST_ID_BASE + ID_BLOCK);
      for (const other of bases.slice(i + 1)) expect(Math.abs(other - base)).toBeGreaterThanOrEqual(ID_BLOCK);
    }
    // Recorded in the image: a restore fchowns the pipes and reads the image as that function's ids.
    for (const [i, p] of PROBES.entries()) expect((await sandbox.store.get(p.name))!.meta.sandbox.hostIdBase).toBe(bases[i]);
  });
});

describe('probe-python in fork mode (a child of a template restored once)', () => {
  it('is an unprivileged, private view, as in every other mode', async () => {
    const paths = hostPaths();
    const report = await probe('probe-python', 'fork', { paths, pids: [process.pid] });
    const hostBase = await hostIdBase(sandbox.home, 'probe-python');
    expectSandboxed(report.atInit, '/var/task/main.py', hostBase);
    // A user namespace one level further down: its map names the template's uid (1000), which the template's own
    // map puts at the function's first host id + 1000, as for every instance of it.
    expect(report.hostUid).toBe(INSTANCE_ID);
    expectSandboxed({ ...report, hostUid: hostBase }, '/var/task/main.py', hostBase);
    expect(report.visible).toEqual(Object.fromEntries(paths.map((p) => [p, false])));
    expect(report.signalled).toEqual([]);
  });

  it("gives every child the snapshot's /tmp, never what another child wrote or grew", async () => {
    const first = await probe('probe-python', 'fork', { write: 'secret-1', grow: true });
    const second = await probe('probe-python', 'fork', { grow: true });
    expect(first.tmp).toEqual(['from-init.txt', 'grown.log']);
    expect(second.tmp).toEqual(['from-init.txt', 'grown.log']);
  });
});

describe('"network": "none"', () => {
  it('gives the instance loopback only, in every start mode', async () => {
    const dir = path.join(sandbox.root, 'functions', 'probe-offline');
    await cp(path.join(sandbox.root, 'functions', 'probe-node'), dir, { recursive: true });
    const manifest = JSON.parse(await readFile(path.join(dir, 'function.json'), 'utf8')) as Record<string, unknown>;
    await writeFile(path.join(dir, 'function.json'), JSON.stringify({ ...manifest, name: 'probe-offline', network: 'none' }));
    expect((await server.post('/functions', { path: dir })).status).toBe(201);
    for (const mode of MODES) {
      const report = await probe('probe-offline', mode);
      expect(report.netDevices).toEqual(['lo']);
      expect(report.atInit.netDevices).toEqual(['lo']);
    }
  });
});

describe('a path outside the view', () => {
  async function expectRefused(dir: string, what: RegExp): Promise<void> {
    const error = await buildFunction(await loadFunction(dir), {
      store: sandbox.store,
      criu: sandbox.criu,
      instances: sandbox.instances,
    }).catch((e: unknown) => e);
    expect(isPrebakeError(error, 'PREBAKE_ERR_OUTSIDE_VIEW')).toBe(true);
    expect((error as Error).message).toMatch(what);
    expect(await sandbox.store.get(path.basename(dir))).toBeUndefined();
    // No build dir left (the run dirs are the warm pool's live clones).
    expect((await sandbox.tempDirs()).filter((dir) => dir.startsWith('tmp'))).toEqual([]);
  }

  it('in an env setting fails the build, naming the variable', async () => {
    const dir = await sandbox.addFunction('probe-node');
    const moved = path.join(path.dirname(dir), 'probe-env');
    await cp(dir, moved, { recursive: true });
    await writeFile(
      path.join(moved, 'function.json'),
      JSON.stringify({
        runtime: 'node',
        handler: 'index.handler',
        // Listed first, so a refusal of the URL or the in-view list would name them instead.
        env: { SERVICE_URL: 'http://127.0.0.1:8080/v1', OK: '/var/task/x:/tmp', NODE_OPTIONS: '--require /elsewhere.js' },
      }),
    );
    await expectRefused(moved, /env NODE_OPTIONS.*\/elsewhere\.js/);
  });

  it('behind a symbolic link on the way to the handler fails the build, naming the link', async () => {
    const dir = path.join(sandbox.root, 'functions', 'probe-link');
    await cp(path.join(sandbox.root, 'functions', 'probe-node'), dir, { recursive: true });
    await writeFile(path.join(dir, 'function.json'), JSON.stringify({ runtime: 'node', handler: 'lib/entry.handler' }));
    // A link elsewhere in the function (node_modules/.bin, say) is not the handler's: only this one counts.
    await symlink('/etc/shadow', path.join(dir, 'unrelated.js'));
    // Another function's directory on a host (here under /tmp, it would resolve to the instance's own /tmp).
    await symlink('/var/lib/prebake/functions/other', path.join(dir, 'lib'));
    await expectRefused(dir, /handler's lib \(a symbolic link\) points to \/var\/lib\/prebake\/functions\/other/);
  });
});
