// The prebake command as a user runs it.
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSandbox, ROOT, runPrebake, type Sandbox, settled } from '../helpers.ts';

let sandbox: Sandbox;
let faultyDir: string;
const prebake = (...args: string[]) => runPrebake(['--home', sandbox.home, ...args]);
// The real binary, for what a process of its own shows: its exit codes, its environment.
const spawnPrebake = (...args: string[]) => execa(path.join(ROOT, 'bin', 'prebake'), ['--home', sandbox.home, ...args], { reject: false });

beforeAll(async () => {
  sandbox = await makeSandbox();
  faultyDir = await sandbox.addFunction('faulty-node');
});

afterAll(async () => {
  try {
    expect(await settled(() => sandbox.processes())).toEqual([]);
  } finally {
    await sandbox.cleanup();
  }
});

describe('prebake CLI', () => {
  it('builds, lists, invokes and removes a function', async () => {
    const build = await prebake('build', faultyDir);
    expect(build.exitCode, build.stderr).toBe(0);
    expect(build.stdout).toMatch(/^built faulty-node \(node\): image [\d.]+ MB/);
    // Each phase said as it begins (not a terminal here: plain lines, no control characters).
    for (const phase of [
      'init: starting node',
      'warm-up: 2 invocation',
      'dump: criu writes the image of [\\d.]+ MB',
      'dump done in \\d+ ms: image [\\d.]+ MB',
      'clone check: restoring',
    ]) {
      expect(build.stderr).toMatch(new RegExp(`^faulty-node: ${phase}`, 'm'));
    }
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the terminal's escape codes are what is looked for
    expect(build.stderr).not.toMatch(/[\r\x1b]/);

    const ls = await prebake('ls');
    expect(ls.stdout).toMatch(/faulty-node\s+node\s+[\d.]+ MB/);
    expect(ls.stdout).toMatch(/^NAME .*\bNETWORK\b/);
    expect(ls.stdout).toMatch(/^faulty-node\s.*\soutbound\s/m);

    const invoke = await prebake('invoke', 'faulty-node', '--data', '{"name":"cli"}', '--timing');
    expect(invoke.exitCode, invoke.stderr).toBe(0);
    expect(JSON.parse(invoke.stdout)).toMatchObject({ echo: { name: 'cli' }, invocations: 3 });
    expect(invoke.stderr).toMatch(/start: prebaked in [\d.]+ m?s; handler: [\d.]+ m?s/);
    expect(invoke.stderr).not.toMatch(/criu \(exec, restore, detach\)/);

    // With --verbose, where the start went: laps of one clock, criu's own among them, summed.
    const verbose = await prebake('--verbose', 'invoke', 'faulty-node', '--timing');
    expect(verbose.exitCode, verbose.stderr).toBe(0);
    const laps = [...verbose.stderr.matchAll(/^ {2}(.+?)\s+([\d.]+) ms$/gm)].map((match) => ({
      name: match[1] ?? '',
      ms: Number(match[2]),
    }));
    expect(laps.map((lap) => lap.name)).toEqual([
      'image check',
      'run dir',
      'view root',
      'cgroup',
      'pipes',
      'restore prep (criu args, kdat, spawn call)',
      'prebake-restore exec',
      'staging (mount namespace, binds, /tmp)',
      'criu (exec, restore, detach)',
      'hand-over (notice to the controller)',
      // "outbound", the default: the clone's egress is attached before it is resumed.
      'network (slirp4netns attached)',
      'resume (reseed, afterRestore hooks) past the hand-over',
      'sum',
    ]);
    expect(laps.find((lap) => lap.name.startsWith('criu'))!.ms).toBeGreaterThan(0);
    const [, amount, unit] = /start: prebaked in ([\d.]+) (m?s)/.exec(verbose.stderr) ?? [];
    const startMs = Number(amount) * (unit === 's' ? 1000 : 1);
    // Laps of the start's own interval: their sum cannot exceed it (within the rounding of what is printed).
    expect(laps.at(-1)!.ms).toBeLessThanOrEqual(startMs + (unit === 's' ? 5 : 0.05));

    const cold = await prebake('invoke', 'faulty-node', '--mode', 'cold', '--timing');
    expect(JSON.parse(cold.stdout)).toMatchObject({ invocations: 1 });
    expect(cold.stderr).toMatch(/start: cold in/);

    const rm = await prebake('rm', 'faulty-node');
    expect(rm.exitCode).toBe(0);
    expect((await prebake('ls')).stdout).toMatch(/no functions built/);
    // A build and seven commands: past 60 s on this 2-core VM under load when each was a Node process of its own.
  }, 180_000);

  it("prints one line naming the function when the handler throws, with logs and the function's stack on request", async () => {
    const event = '{"throw":"bad order","log":"about to fail"}';
    const result = await prebake('invoke', faultyDir, '--mode', 'cold', '--logs', '--data', event);
    expect(result.exitCode).toBe(6);
    expect(result.stdout).toBe('');
    const lines = result.stderr.trim().split('\n');
    expect(lines).toContain('about to fail');
    // Where the function's own code threw, as the daemon's functionError.stack has it; no frame of prebake's.
    expect(lines).toContain('RangeError: bad order');
    // The path as the instance sees it: its code is at /var/task (docs/SANDBOX.md).
    expect(lines.some((line) => line.includes('at exports.handler (/var/task/index.js:'))).toBe(true);
    expect(result.stderr).not.toContain('shim.mjs');
    expect(lines.at(-1)).toMatch(
      /^prebake: function "faulty-node": the handler threw: RangeError: bad order .*\[PREBAKE_ERR_FUNCTION_ERROR\]$/,
    );

    const plain = await prebake('invoke', faultyDir, '--mode', 'cold', '--data', event);
    expect(plain.stderr.trim().split('\n')).toHaveLength(1);
    const verbose = await prebake('--verbose', 'invoke', faultyDir, '--mode', 'cold', '--data', event);
    expect(verbose.stderr).toContain('at exports.handler (/var/task/index.js:');
  });

  it('warns when clones of a new image share state, and fails the build under --strict', async () => {
    const dir = await sandbox.addFunction('random-python');
    const build = await prebake('build', dir);
    expect(build.exitCode, build.stderr).toBe(0);
    expect(build.stderr).toMatch(/^prebake: warning: function "random-python": clones share state: \$\.instance, \$\.hashSeed /m);
    const strict = await prebake('build', '--strict', dir);
    expect(strict.exitCode).toBe(5);
    expect(strict.stderr).toMatch(/\[PREBAKE_ERR_CLONE_CHECK\]$/m);
  });

  it('refuses data that is not JSON and unknown functions, with distinct exit codes', async () => {
    const badJson = await spawnPrebake('invoke', faultyDir, '--data', 'nope');
    expect(badJson.exitCode).toBe(2);
    expect(badJson.stderr).toMatch(/PREBAKE_ERR_INVALID_EVENT/);
    const unknown = await spawnPrebake('invoke', 'never-built');
    expect(unknown.exitCode).toBe(3);
    expect(unknown.stderr).toMatch(/"never-built"/);
    const badMode = await spawnPrebake('invoke', 'never-built', '--mode', 'sideways');
    expect(badMode.exitCode).toBe(2);
  });

  it('rm refuses what is not a function name, removing nothing (it deleted directories outside the home)', async () => {
    // A directory that looks enough like a function to the store: a `current` link whose metadata is unreadable.
    const victim = path.join(sandbox.root, 'victim');
    await mkdir(victim);
    await writeFile(path.join(victim, 'keep.txt'), 'precious');
    await symlink('nowhere', path.join(victim, 'current'));
    const result = await prebake('rm', '../../victim');
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/PREBAKE_ERR_INVALID_INPUT/);
    expect(result.stderr).toContain('"../../victim"');
    expect(await readFile(path.join(victim, 'keep.txt'), 'utf8')).toBe('precious');
    const lock = await prebake('rm', 'faulty-node.lock');
    expect(lock.exitCode).toBe(2);
  });

  it('reports a broken manifest naming the field', async () => {
    const result = await prebake('build', path.join(ROOT, 'test', 'fixtures'));
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/function\.json/);
  });

  it("runs doctor, naming the functions on the host's network", async () => {
    const hostDir = path.join(sandbox.root, 'functions', 'on-host');
    await mkdir(hostDir, { recursive: true });
    await writeFile(path.join(hostDir, 'index.js'), 'exports.handler = async () => "ok";\n');
    await writeFile(
      path.join(hostDir, 'function.json'),
      JSON.stringify({ runtime: 'node', handler: 'index.handler', network: 'host', cloneCheck: false }),
    );
    expect((await prebake('build', hostDir)).exitCode).toBe(0);
    expect((await prebake('ls')).stdout).toMatch(/^on-host\s.*\shost\s/m);
    const result = await prebake('doctor');
    expect(result.stdout).toMatch(/^ok\s+outbound network: slirp4netns version \d/m);
    expect(result.stdout).toMatch(/^warn\s+functions on the host network: on-host: "network": "host"/m);
    expect((await prebake('rm', 'on-host')).exitCode).toBe(0);
    expect(result.stdout).toMatch(/^ok\s+criu: 4\.\d/m);
    expect(result.stdout).toMatch(/^ok\s+criu check: Looks good/m);
    expect(result.stdout).toMatch(/^ok\s+cgroups: cgroup v[12] at \/sys\/fs\/cgroup: enforces memoryMb/m);
    expect(result.stdout).toMatch(/^ok\s+cgroup migrations: fast: favordynmods/m);
    expect(result.stdout).toMatch(/^ok\s+privileges: root with CAP_SYS_ADMIN/m);
    expect(result.stdout).toMatch(/^ok\s+checkpoint: no seccomp filter on prebake/m);
    // The cache is reported as it is, never as a failure: prebake writes it where /run is no tmpfs.
    expect(result.stdout).toMatch(/^ok\s+criu kernel-probe cache: /m);
    // Either verdict is information, not a failure: criu runs without breakpoints where they do not work.
    expect(result.stdout).toMatch(/^ok\s+hardware breakpoints: (working|not working: criu stops on syscalls instead \(.+\))$/m);
    // A warning only where faults are slow, with the start modes that pay off there.
    expect(result.stdout).toMatch(/^(ok {2}|warn)\s+page faults: \d+\.\d\d us per 4 KiB fault, \d+\.\d\d us per 4 KiB with MADV_HUGEPAGE/m);
    expect(result.stdout).toMatch(
      /^warn\s+page faults: .*: slow: .*pooled and fork modes move the faults off the request path$|^ok\s+page faults: .*: fast: /m,
    );
    expect(result.exitCode).toBe(0);
  });

  it('runs doctor with breakpoints off by request, in JSON', async () => {
    const result = await execa(path.join(ROOT, 'bin', 'prebake'), ['doctor', '--json'], {
      reject: false,
      env: { PREBAKE_CRIU_BREAKPOINTS: '0' },
    });
    const checks = JSON.parse(result.stdout) as { name: string; ok: boolean; detail: string }[];
    expect(checks.find((check) => check.name === 'hardware breakpoints')).toEqual({
      name: 'hardware breakpoints',
      ok: true,
      detail: 'off by request (PREBAKE_CRIU_BREAKPOINTS=0)',
      optional: false,
    });
  });
});

describe('events from files', () => {
  it('reads @FILE and refuses one over the 6 MB limit before starting anything', async () => {
    const { writeFile } = await import('node:fs/promises');
    const small = path.join(sandbox.root, 'small.json');
    await writeFile(small, '{"name":"from a file"}');
    const ok = await prebake('invoke', faultyDir, '--mode', 'cold', '--data', `@${small}`);
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).echo).toEqual({ name: 'from a file' });

    const huge = path.join(sandbox.root, 'huge.json');
    await writeFile(huge, JSON.stringify({ blob: 'x'.repeat(7 * 1024 * 1024) }));
    const tooBig = await prebake('invoke', faultyDir, '--mode', 'cold', '--data', `@${huge}`);
    expect(tooBig.exitCode).toBe(2);
    expect(tooBig.stderr).toMatch(/PREBAKE_ERR_PAYLOAD_TOO_LARGE/);

    const missing = await prebake('invoke', faultyDir, '--data', '@/nonexistent/event.json');
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toMatch(/\/nonexistent\/event\.json/);
  });
});
