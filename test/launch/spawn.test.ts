import { closeSync, openSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadSpawnAddon, SpawnedProcess } from '../../src/launch/spawn.ts';

const { pipe } = createRequire(import.meta.url)(path.join(import.meta.dirname, '../../native/build/pipe.node')) as {
  pipe(): [number, number];
};
const { spawn } = loadSpawnAddon();

interface Exit {
  code: number | null;
  signal: string | null;
}

const opened: number[] = [];
function track<T extends number[]>(...fds: T): T {
  opened.push(...fds);
  return fds;
}
afterEach(() => {
  for (const fd of opened.splice(0)) {
    try {
      closeSync(fd);
    } catch {
      // closed by the test
    }
  }
});

function devNull(): number {
  return track(openSync('/dev/null', 'r+'))[0];
}

/** Runs bash -c `script` with the child's fds = `fds`; resolves with its pid and exit. */
function run(script: string, fds: number[]): { pid: number; exit: Promise<Exit> } {
  let pid = 0;
  const exit = new Promise<Exit>((resolve) => {
    pid = spawn('bash', ['bash', '-c', script], fds, (code, signal) => resolve({ code, signal }));
  });
  return { pid, exit };
}

function readAll(fd: number): string {
  return readFileSync(fd, 'utf8');
}

describe('native spawn', () => {
  it('gives the child fds[i] as fd i, not close-on-exec', async () => {
    const null_ = devNull();
    const [outRead, outWrite] = track(...pipe());
    const [aRead, aWrite] = track(...pipe());
    const [bRead, bWrite] = track(...pipe());
    const { exit } = run('echo out; echo three >&3; echo four >&4; echo err >&2', [null_, outWrite, null_, aWrite, bWrite]);
    for (const fd of [outWrite, aWrite, bWrite]) closeSync(fd);
    expect(await exit).toEqual({ code: 0, signal: null });
    expect(readAll(outRead)).toBe('out\n');
    expect(readAll(aRead)).toBe('three\n');
    expect(readAll(bRead)).toBe('four\n');
  });

  it('handles fds already at their target number and fds that trade places', async () => {
    const null_ = devNull();
    const [aRead, aWrite] = track(...pipe());
    const [bRead, bWrite] = track(...pipe());
    const [cRead, cWrite] = track(...pipe());
    const fds = new Array<number>(Math.max(aWrite, bWrite, cWrite) + 1).fill(null_);
    fds[aWrite] = aWrite; // already in place (and close-on-exec in the parent)
    fds[bWrite] = cWrite; // b and c swap
    fds[cWrite] = bWrite;
    const { exit } = run(`echo A >&${aWrite}; echo B >&${bWrite}; echo C >&${cWrite}`, fds);
    for (const fd of [aWrite, bWrite, cWrite]) closeSync(fd);
    expect(await exit).toEqual({ code: 0, signal: null });
    expect(readAll(aRead)).toBe('A\n');
    expect(readAll(cRead)).toBe('B\n');
    expect(readAll(bRead)).toBe('C\n');
  });

  it('passes the environment and resets signal dispositions', async () => {
    const null_ = devNull();
    const [outRead, outWrite] = track(...pipe());
    process.env.PREBAKE_SPAWN_TEST = 'from-the-parent';
    try {
      const { exit } = run('echo "$PREBAKE_SPAWN_TEST"; exec grep -E "^Sig(Ign|Blk)" /proc/self/status', [null_, outWrite, null_]);
      closeSync(outWrite);
      expect(await exit).toEqual({ code: 0, signal: null });
    } finally {
      delete process.env.PREBAKE_SPAWN_TEST;
    }
    const [env, blocked, ignored] = readAll(outRead).trim().split('\n');
    expect(env).toBe('from-the-parent');
    expect(blocked).toBe('SigBlk:\t0000000000000000');
    // Node ignores SIGPIPE and SIGXFSZ; the child must not inherit that. (As with child_process, only the
    // standard signals 1..31 are reset: glibc keeps 32 and 33 for itself and sets them up again after exec.)
    const mask = BigInt(`0x${ignored!.split('\t')[1]}`);
    expect(mask & 0x7fffffffn).toBe(0n); // bit n-1 is signal n
  });

  it('gives the child only the environment and working directory it is told to', async () => {
    const null_ = devNull();
    const [outRead, outWrite] = track(...pipe());
    process.env.PREBAKE_SPAWN_TEST = 'not-for-the-child';
    try {
      const child = new SpawnedProcess('/bin/sh', ['-c', 'echo "[$PREBAKE_SPAWN_TEST] [$ONLY_THIS] $(pwd)"'], [null_, outWrite, null_], {
        env: { ONLY_THIS: 'yes' },
        cwd: '/usr/share',
      });
      closeSync(outWrite);
      expect(await child).toEqual({ exitCode: 0 });
    } finally {
      delete process.env.PREBAKE_SPAWN_TEST;
    }
    expect(readAll(outRead).trim()).toBe('[] [yes] /usr/share');
    expect(() => new SpawnedProcess('/bin/true', [], [null_, null_, null_], { cwd: '/nonexistent/dir' })).toThrow(/No such file/);
  });

  it('reports the exit code and the signal that ended the child', async () => {
    const null_ = devNull();
    expect(await run('exit 7', [null_, null_, null_]).exit).toEqual({ code: 7, signal: null });
    expect(await run('kill -TERM $$', [null_, null_, null_]).exit).toEqual({ code: null, signal: 'SIGTERM' });
  });

  it('reports SIGKILL for a killed child', async () => {
    const null_ = devNull();
    const { pid, exit } = run('exec sleep 30', [null_, null_, null_]);
    expect(pid).toBeGreaterThan(0);
    process.kill(pid, 'SIGKILL');
    expect(await exit).toEqual({ code: null, signal: 'SIGKILL' });
  });

  it('throws when the program cannot run', () => {
    expect(() => spawn('/nonexistent/program', ['x'], [], () => {})).toThrow(/ENOENT|No such file/);
  });

  it('SpawnedProcess behaves as an OwnerProcess', async () => {
    const null_ = devNull();
    const child = new SpawnedProcess('sleep', ['30'], [null_, null_, null_]);
    expect(child.spawnargs).toEqual(['sleep', '30']);
    expect(child.exitCode).toBeNull();
    expect(child.kill('SIGKILL')).toBe(true);
    expect(await child).toEqual({ signal: 'SIGKILL' });
    expect(child.exitCode).toBeNull();
    expect(child.kill('SIGKILL')).toBe(false); // reaped: the pid is not ours any more

    const ok = new SpawnedProcess('true', [], [null_, null_, null_]);
    expect(await ok).toEqual({ exitCode: 0 });
    expect(ok.exitCode).toBe(0);
  });
});
