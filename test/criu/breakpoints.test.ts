// Whether criu may stop tasks with hardware breakpoints (src/criu/breakpoints.ts): the decision from either
// verdict with an injected probe, the verdict kept per boot and kernel, the real probe on this host, and that
// every criu run of a build and a restore gets the environment that follows the verdict.
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import {
  BREAKPOINT_PATCH,
  decideBreakpoints,
  hostBreakpoints,
  OFF_BY_REQUEST,
  type ProbeResult,
  runBreakpointProbe,
} from '../../src/criu/breakpoints.ts';
import { readCriuBuild } from '../../src/criu/build-info.ts';
import { Criu } from '../../src/criu/criu.ts';
import { criuEnvironment } from '../../src/criu/environment.ts';
import { criuBinary } from '../../src/paths.ts';
import { startPrebaked } from '../../src/start/restore.ts';
import { sandboxForFile } from '../helpers.ts';

const temps: string[] = [];
afterEach(async () => {
  await Promise.all(temps.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function cacheDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'prebake-breakpoints-'));
  temps.push(dir);
  return dir;
}

/** A probe that answers `verdict` and counts its calls. */
function fakeProbe(verdict: ProbeResult['verdict']) {
  const probe = async (): Promise<ProbeResult> => {
    probe.calls++;
    return { verdict, detail: verdict };
  };
  probe.calls = 0;
  return probe;
}

describe('the decision', () => {
  it('uses breakpoints only where a breakpoint stopped the probe, and otherwise gives criu CRIU_FAULT=130', () => {
    const working = decideBreakpoints({ verdict: 'working', detail: '' });
    expect(working).toEqual({ use: true, detail: 'working' });
    expect(criuEnvironment(working, {})).toEqual({ CR_IPTABLES: 'true' });

    for (const verdict of ['ran-past', 'refused'] as const) {
      const broken = decideBreakpoints({ verdict, detail: '1 (Operation not permitted)' });
      expect(broken.use).toBe(false);
      expect(broken.detail).toMatch(/^not working: criu stops on syscalls instead/);
      expect(criuEnvironment(broken, {})).toEqual({ CR_IPTABLES: 'true', CRIU_FAULT: '130' });
    }
    // Undecided: the syscall path, which works on every host.
    expect(decideBreakpoints({ verdict: 'no-answer', detail: 'late' }).use).toBe(false);
    expect(decideBreakpoints('off')).toEqual({ use: false, detail: OFF_BY_REQUEST });
  });

  it('keeps the fill switch in the same environment', () => {
    expect(criuEnvironment({ use: true, detail: 'working' }, { PREBAKE_THP_FILL: '0' })).toEqual({
      CR_IPTABLES: 'true',
      CRIU_THP_FILL: '0',
    });
  });
});

describe('the verdict kept for this boot', () => {
  it('probes once, then answers from the cache next to the kdat cache', async () => {
    const dir = await cacheDir();
    const probe = fakeProbe('working');
    expect((await hostBreakpoints(dir, probe, {})).use).toBe(true);
    expect((await hostBreakpoints(dir, probe, {})).use).toBe(true);
    expect(probe.calls).toBe(1);
    const kept = JSON.parse(await readFile(path.join(dir, 'prebake-breakpoints.json'), 'utf8')) as Record<string, string>;
    expect(kept).toMatchObject({
      verdict: 'working',
      bootId: (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim(),
      kernel: os.release(),
    });
  });

  it('probes again after a reboot or under another kernel', async () => {
    const dir = await cacheDir();
    const file = path.join(dir, 'prebake-breakpoints.json');
    const bootId = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
    for (const stale of [
      { bootId: 'another-boot', kernel: os.release() },
      { bootId, kernel: '5.10.0-other' },
    ]) {
      await writeFile(file, JSON.stringify({ ...stale, verdict: 'working', detail: 'working' }));
      const probe = fakeProbe('ran-past');
      expect((await hostBreakpoints(dir, probe, {})).use).toBe(false);
      expect(probe.calls).toBe(1);
    }
  });

  it('keeps no undecided verdict', async () => {
    const dir = await cacheDir();
    const probe = fakeProbe('no-answer');
    expect((await hostBreakpoints(dir, probe, {})).use).toBe(false);
    expect((await hostBreakpoints(dir, probe, {})).use).toBe(false);
    expect(probe.calls).toBe(2);
  });

  it('does not probe when PREBAKE_CRIU_BREAKPOINTS=0, whatever the host', async () => {
    const probe = fakeProbe('working');
    expect(await hostBreakpoints(await cacheDir(), probe, { PREBAKE_CRIU_BREAKPOINTS: '0' })).toEqual({
      use: false,
      detail: OFF_BY_REQUEST,
    });
    expect(probe.calls).toBe(0);
  });
});

describe('on this host', () => {
  it('the probe gives a verdict (on a host without working debug registers: ran-past)', async () => {
    const result = await runBreakpointProbe();
    expect(['working', 'ran-past', 'refused']).toContain(result.verdict);
  });

  const getSandbox = sandboxForFile();

  /** A criu that notes each run's command and CRIU_FAULT, then runs the real one. */
  async function recordingCriu(name: string): Promise<{ criu: Criu; runs: () => Promise<string[]> }> {
    const sandbox = getSandbox();
    const log = path.join(sandbox.root, `${name}.runs`);
    const file = path.join(sandbox.root, `criu-${name}`);
    await writeFile(file, `#!/bin/sh\necho "$1 \${CRIU_FAULT:-unset}" >>'${log}'\nexec '${criuBinary()}' "$@"\n`);
    await chmod(file, 0o755);
    const runs = async () =>
      (await readFile(log, 'utf8').catch(() => ''))
        .trim()
        .split('\n')
        .filter((line) => /^(dump|restore) /.test(line));
    return { criu: new Criu(file), runs };
  }

  /** Builds and restores a function with `criu`, and answers one invocation from the clone. */
  async function buildAndRestore(criu: Criu): Promise<void> {
    const sandbox = getSandbox();
    sandbox.criu = criu;
    const built = await sandbox.build('faulty-node');
    const clone = await startPrebaked(built, sandbox.store, criu, sandbox.instances);
    try {
      const result = await clone.instance.invoke('{"n":1}', { requestId: 'bp', timeoutMs: 10_000 });
      expect(JSON.parse(result.body.toString())).toMatchObject({ echo: { n: 1 } });
    } finally {
      await clone.instance.end();
      await clone.cleanup();
    }
  }

  // The build's clone check restores too: every run counts, and there is at least one of each.
  function expectEveryRun(runs: string[], fault: string): void {
    expect(runs.filter((run) => run.startsWith('dump '))).toEqual([`dump ${fault}`]);
    expect(runs.filter((run) => run.startsWith('restore ')).length).toBeGreaterThanOrEqual(1);
    expect(runs.filter((run) => !run.endsWith(` ${fault}`))).toEqual([]);
  }

  it("every criu dump and restore runs with the environment the host's verdict asks for", async () => {
    const { criu, runs } = await recordingCriu('probed');
    const breakpoints = await criu.breakpoints();
    await buildAndRestore(criu);
    const fault = breakpoints.use ? 'unset' : '130';
    expectEveryRun(await runs(), fault);
  });

  it('PREBAKE_CRIU_BREAKPOINTS=0 forces the syscall path', async () => {
    process.env.PREBAKE_CRIU_BREAKPOINTS = '0';
    try {
      const { criu, runs } = await recordingCriu('forced');
      expect(await criu.breakpoints()).toEqual({ use: false, detail: OFF_BY_REQUEST });
      await buildAndRestore(criu);
      expectEveryRun(await runs(), '130');
    } finally {
      delete process.env.PREBAKE_CRIU_BREAKPOINTS;
    }
  });
});

const installed = await readCriuBuild(criuBinary()).catch(() => undefined);

// Where setup.sh built the lean criu with the patch: criu decides by itself, without CRIU_FAULT in its
// environment (on a host whose breakpoints do not work, an unpatched criu would hang here: hence the deadline).
describe.runIf(installed?.patches.includes(BREAKPOINT_PATCH))(`criu built with ${BREAKPOINT_PATCH}`, () => {
  it('dumps and restores a process with no CRIU_FAULT in its environment', async () => {
    const dir = await cacheDir();
    const images = path.join(dir, 'images');
    await mkdir(images);
    const { CRIU_FAULT: _, ...env } = process.env;
    const criu = (...args: string[]) => execa(criuBinary(), args, { env, extendEnv: false, reject: false, timeout: 60_000, cwd: dir });
    // detached: a session of its own, which criu restores as it was.
    const sleeper = execa('sleep', ['1000'], { cwd: dir, stdio: 'ignore', detached: true, reject: false });
    try {
      const dumped = await criu('dump', '--tree', String(sleeper.pid), '--images-dir', images, '--log-file', 'dump.log');
      expect(dumped.timedOut, "criu dump hung: the host's breakpoints do not work and criu did not notice").toBe(false);
      expect(dumped.exitCode, await readFile(path.join(images, 'dump.log'), 'utf8').catch(() => '')).toBe(0);
      await sleeper;
      const pidFile = path.join(dir, 'restored.pid');
      const restored = await criu(
        'restore',
        '--images-dir',
        images,
        '--log-file',
        'restore.log',
        '--restore-detached',
        '--pidfile',
        pidFile,
      );
      expect(restored.timedOut).toBe(false);
      expect(restored.exitCode, await readFile(path.join(images, 'restore.log'), 'utf8').catch(() => '')).toBe(0);
      const pid = Number(await readFile(pidFile, 'utf8'));
      expect(await readFile(`/proc/${pid}/cmdline`, 'utf8')).toBe('sleep\u00001000\u0000');
      process.kill(pid, 'SIGKILL');
    } finally {
      sleeper.kill('SIGKILL');
    }
  });
});
