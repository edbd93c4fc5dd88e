// What an instance's view holds of the host (issue 19 §1): what Debian's runtimes resolve through /etc, the host
// paths a function asks for ("readOnlyPaths", checked at build), and an init failure on a file outside the view
// that says so and how to add it.
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFunction } from '../../src/bake/build.ts';
import { isPrebakeError, type PrebakeError } from '../../src/errors.ts';
import { invokeFunction } from '../../src/invoke/invoke.ts';
import { type HostFacts, hostFacts } from '../../src/launch/host-facts.ts';
import { outsideView } from '../../src/launch/missing-path.ts';
import { checkReadOnlyPaths } from '../../src/launch/read-only-paths.ts';
import { sandboxRootEntries } from '../../src/launch/sandbox-plan.ts';
import { type SandboxMount, type ViewShape, viewOps } from '../../src/launch/view-ops.ts';
import { describeFunction } from '../../src/manager/describe.ts';
import { loadFunction } from '../../src/manifest/load.ts';
import type { FunctionSpec } from '../../src/manifest/schema.ts';
import { makeSandbox, ROOT, runPrebake, type Sandbox } from '../helpers.ts';

let sandbox: Sandbox;
let facts: HostFacts;
// The view of an instance that binds `mounts` and holds `rootEntries`, on this host.
const viewOf = (shape: { mounts: SandboxMount[]; rootEntries: ViewShape['rootEntries'] }) => viewOps({ ...shape, tmpMb: 16 }, facts);
// Outside every view, and not under /tmp (an instance's own /tmp would hide it).
let outside: string;

beforeAll(async () => {
  sandbox = await makeSandbox();
  facts = await hostFacts(sandbox.store.sandboxDir);
  outside = await mkdtemp('/var/tmp/prebake-outside-');
  await chmod(outside, 0o755);
  await writeFile(path.join(outside, 'settings.txt'), 'from the host\n');
});

afterAll(async () => {
  await rm(outside, { recursive: true, force: true });
  await sandbox.finish();
});

const build = async (dir: string) =>
  buildFunction(await loadFunction(dir), { store: sandbox.store, criu: sandbox.criu, instances: sandbox.instances });
const invoke = async (target: string, mode: 'cold' | 'prebaked') =>
  JSON.parse((await invokeFunction({ target, event: '{}', mode }, sandbox.store, sandbox.criu, sandbox.instances)).result) as Record<
    string,
    unknown
  >;

async function withManifest(fixture: string, name: string, extra: Record<string, unknown>): Promise<string> {
  const dir = path.join(sandbox.root, 'functions', name);
  await mkdir(path.dirname(dir), { recursive: true });
  await execa('cp', ['-a', path.join(ROOT, 'test', 'fixtures', 'functions', fixture), dir]);
  const manifest = JSON.parse(await readFile(path.join(dir, 'function.json'), 'utf8')) as Record<string, unknown>;
  await writeFile(path.join(dir, 'function.json'), JSON.stringify({ ...manifest, name, ...extra }));
  return dir;
}

describe("what Debian's runtimes resolve through /etc", () => {
  it("lets Debian's numpy import (libblas.so.3 through /etc/alternatives), with MIME types, services, CA certificates", async () => {
    await sandbox.build('etc-python');
    for (const mode of ['prebaked', 'cold'] as const) {
      expect(await invoke('etc-python', mode)).toEqual({
        numpy: expect.stringMatching(/^\d+\.\d+/),
        dot: 14,
        mime: 'application/vnd.debian.binary-package',
        http: 80,
        localtime: true,
        os: 'debian',
        cafile: true,
      });
    }
  });

  it('copies no /etc file that others cannot read on the host', () => {
    const etc = sandboxRootEntries(facts).filter((entry) => entry.target.startsWith('/etc/'));
    expect(etc.map((entry) => entry.target)).toEqual(
      expect.arrayContaining(['/etc/alternatives', '/etc/ld.so.cache', '/etc/ssl', '/etc/mime.types', '/etc/nsswitch.conf']),
    );
    // Never the password hashes, nor the loader's preload list (host policy, not the instance's).
    expect(etc.map((entry) => entry.target)).not.toEqual(expect.arrayContaining(['/etc/shadow']));
    expect(etc.some((entry) => /shadow|ld\.so\.preload|sudoers/.test(entry.target))).toBe(false);
  });
});

describe('an init failure on a file outside the view', () => {
  it("finds where a library the loader names by its soname leaves the view, through the host's loader cache", async () => {
    const withoutAlternatives = viewOf({
      mounts: [{ kind: 'ro-bind', source: '/usr', target: '/usr', file: false }],
      rootEntries: sandboxRootEntries(facts).filter((entry) => entry.target !== '/etc/alternatives'),
    });
    const said = 'Original error was: libblas.so.3: cannot open shared object file: No such file or directory';
    expect(await outsideView(withoutAlternatives, said)).toEqual({
      named: expect.stringMatching(/\/lib\/x86_64-linux-gnu\/libblas\.so\.3$/),
      link: { path: '/usr/lib/x86_64-linux-gnu/libblas.so.3', target: '/etc/alternatives/libblas.so.3-x86_64-linux-gnu' },
      add: '/etc/alternatives/libblas.so.3-x86_64-linux-gnu',
    });
    // With the view as it is, nothing is outside: the error is the function's own.
    const view = viewOf({
      mounts: [{ kind: 'ro-bind', source: '/usr', target: '/usr', file: false }],
      rootEntries: sandboxRootEntries(facts),
    });
    expect(await outsideView(view, said)).toBeUndefined();
  });

  it("reads Node's and Java's words for a missing file, and says nothing of a file the host lacks too", async () => {
    const code = path.join(sandbox.root, 'code-with-link');
    await mkdir(code);
    await symlink(outside, path.join(code, 'lib'));
    await writeFile(path.join(outside, 'helper.js'), '');
    const view = viewOf({ mounts: [{ kind: 'ro-bind', source: code, target: '/var/task', file: false }], rootEntries: [] });
    const link = { path: '/var/task/lib', target: outside };
    expect(await outsideView(view, "Error: Cannot find module '/var/task/lib/helper.js'\nRequire stack:\n- /var/task/index.js")).toEqual({
      named: '/var/task/lib/helper.js',
      link,
      add: outside,
    });
    expect(await outsideView(view, 'java.io.FileNotFoundException: /var/task/lib/absent.txt (No such file or directory)')).toBeUndefined();
    await writeFile(path.join(outside, 'data.bin'), '');
    expect(await outsideView(view, `java.io.FileNotFoundException: ${outside}/data.bin (No such file or directory)`)).toEqual({
      named: `${outside}/data.bin`,
      add: `${outside}/data.bin`,
    });
  });

  it('names the file, the link that leads out and the "readOnlyPaths" entry that lets it in', async () => {
    const dir = await withManifest('outside-file-python', 'outside-file', {});
    await symlink(outside, path.join(dir, 'data'));
    const error = (await build(dir).catch((e: unknown) => e)) as PrebakeError;
    expect(isPrebakeError(error, 'PREBAKE_ERR_INIT_FAILED'), String(error)).toBe(true);
    expect(error.functionError?.type).toBe('FileNotFoundError');
    expect(error.message).toContain(
      `/var/task/data/settings.txt leads outside the sandbox's view through the symbolic link /var/task/data -> ${outside}`,
    );
    expect(error.hint).toBe(`add "${outside}" to "readOnlyPaths" in function.json to let instances read it (docs/SANDBOX.md)`);
    // Not the interpreter's fault: no word of choosing another.
    expect(error.hint).not.toMatch(/interpreter/);
    expect(await sandbox.store.get('outside-file')).toBeUndefined();
  });

  it('runs once the path is in "readOnlyPaths": built, restored and started plainly, and shown by ls and describe', async () => {
    const dir = await withManifest('outside-file-python', 'outside-allowed', { readOnlyPaths: [outside] });
    await symlink(outside, path.join(dir, 'data'));
    const built = await build(dir);
    expect(built.meta.spec.readOnlyPaths).toEqual([outside]);
    expect(built.meta.sandbox.mounts).toContainEqual({ kind: 'ro-bind', source: outside, target: outside, file: false });
    for (const mode of ['prebaked', 'cold'] as const) expect(await invoke('outside-allowed', mode)).toEqual({ settings: 'from the host' });

    const ls = await runPrebake(['--home', sandbox.home, 'ls']);
    expect(ls.stdout.split('\n')[0]).toContain('READ-ONLY PATHS');
    expect(ls.stdout.split('\n').find((line) => line.startsWith('outside-allowed '))).toMatch(new RegExp(`${outside}$`));
    const stored = await sandbox.store.get('outside-allowed');
    const described = describeFunction({
      meta: stored!.meta,
      settings: {
        startMode: 'prebaked',
        warm: { max: 0, idleMs: 0 },
        pool: { size: 1, minSize: 1, maxSize: 1, burst: 0, maxIdleSeconds: 1, hooks: 'fill' },
      },
      pool: { idle: 0, busy: 0 },
      source: 'unchanged',
      needsRebuild: false,
      counters: { invocations: 0, errors: 0, prebaked: 0, warm: 0, cold: 0, pooled: 0, fork: 0, restoreFailures: 0, fallbacks: 0 },
    });
    expect(described.readOnlyPaths).toEqual([outside]);
  });
});

describe('"readOnlyPaths" at build', () => {
  let spec: FunctionSpec;
  let view: ReturnType<typeof viewOps>;
  beforeAll(async () => {
    spec = await loadFunction(await withManifest('outside-file-python', 'ro-checks', {}));
    view = viewOf({
      mounts: [{ kind: 'ro-bind', source: '/usr', target: '/usr', file: false }],
      rootEntries: sandboxRootEntries(facts),
    });
  });
  const refusal = async (file: string) => {
    const error = await checkReadOnlyPaths({ ...spec, readOnlyPaths: [file] }, sandbox.home, view).catch((e: unknown) => e);
    expect(isPrebakeError(error, 'PREBAKE_ERR_MANIFEST'), `${file}: ${String(error)}`).toBe(true);
    expect((error as Error).message).toContain(`field "readOnlyPaths[0]": ${file} `);
    return (error as Error).message;
  };

  it('accepts a readable host directory', async () => {
    await expect(checkReadOnlyPaths({ ...spec, readOnlyPaths: [outside] }, sandbox.home, view)).resolves.toBeUndefined();
  });

  it("refuses the kernel's interfaces, root's home, devices, password hashes and what holds them", async () => {
    for (const file of ['/proc/self', '/sys/kernel', '/root', '/dev/null', '/etc/shadow', '/etc/gshadow', '/etc', '/']) {
      expect(await refusal(file)).toMatch(/which no instance may see|prebake's home/);
    }
  });

  it("refuses prebake's home, and any path holding it", async () => {
    expect(await refusal(sandbox.home)).toContain("prebake's home");
    expect(await refusal(path.join(sandbox.home, 'functions'))).toContain("prebake's home");
    expect(await refusal(sandbox.root)).toContain("prebake's home");
  });

  it('refuses a link that leads to a forbidden place', async () => {
    const link = path.join(outside, 'to-root');
    await symlink('/root', link);
    expect(await refusal(link)).toContain('/root, which no instance may see');
  });

  it('refuses what is missing, a socket, what others cannot read, what the view has, and /tmp', async () => {
    expect(await refusal(path.join(outside, 'missing'))).toContain('does not exist');
    const socketPath = path.join(outside, 'server.sock');
    const server = net.createServer().listen(socketPath);
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      expect(await refusal(socketPath)).toContain('not a file or a directory');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    const secret = path.join(outside, 'secret.txt');
    await writeFile(secret, 'x', { mode: 0o600 });
    expect(await refusal(secret)).toContain('cannot be read by other users (mode 600)');
    expect(await refusal('/usr/share/zoneinfo')).toContain("in every instance's view already");
    expect(await refusal('/etc/ssl/certs')).toContain("in every instance's view already");
    const underTmp = await mkdtemp(path.join(os.tmpdir(), 'prebake-ro-'));
    try {
      await chmod(underTmp, 0o755);
      expect(await refusal(underTmp)).toContain("view's own /tmp");
    } finally {
      await rm(underTmp, { recursive: true });
    }
  });

  it('fails the build before anything starts, leaving nothing behind', async () => {
    const dir = await withManifest('outside-file-python', 'ro-refused', { readOnlyPaths: ['/root'] });
    const error = await build(dir).catch((e: unknown) => e);
    expect(isPrebakeError(error, 'PREBAKE_ERR_MANIFEST'), String(error)).toBe(true);
    expect((error as Error).message).toContain('function.json field "readOnlyPaths[0]": /root is or holds /root');
    await sandbox.expectClean();
  });

  it('must be absolute (function.json schema)', async () => {
    const dir = await withManifest('outside-file-python', 'ro-relative', { readOnlyPaths: ['data'] });
    await expect(loadFunction(dir)).rejects.toMatchObject({
      code: 'PREBAKE_ERR_MANIFEST',
      message: expect.stringContaining('readOnlyPaths'),
    });
  });
});
