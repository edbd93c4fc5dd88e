// What a killed `prebake invoke` leaves behind: nothing after a SIGTERM; after a SIGKILL, whatever it left is
// swept by the next command on the home. And endless event inputs stop at the event limit.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { describe, expect, it } from 'vitest';
import { processCpuMs } from '../../src/launch/proc.ts';
import { ROOT, sandboxForFile, settled } from '../helpers.ts';

const sandbox = sandboxForFile('faulty-node');
const bin = path.join(ROOT, 'bin', 'prebake');
const prebake = (...args: string[]) => execa(bin, ['--home', sandbox().home, ...args], { reject: false });

/** Starts an invocation whose handler spins, and waits until it does (its instance has used CPU time). */
async function busyInvoke(): Promise<{ child: ResultPromise }> {
  const child = execa(bin, ['--home', sandbox().home, 'invoke', 'faulty-node', '-d', '{"spinMs":30000}'], { reject: false });
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (await spinning()) break;
    if (Date.now() > deadline) throw new Error('the invocation did not start spinning');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  // Wrapped: an async function would await the child (a thenable) instead of returning it.
  return { child };
}

// The restored instance's pid is in its run dir's pidfile; 0.3 s of user CPU means the handler runs.
async function spinning(): Promise<boolean> {
  for (const run of await readdir(path.join(sandbox().home, 'run')).catch(() => [])) {
    const pid = (await readFile(path.join(sandbox().home, 'run', run, 'pid'), 'utf8').catch(() => '')).trim();
    if (!pid) continue;
    if ((await processCpuMs(Number(pid))) >= 300) return true;
  }
  return false;
}

describe('a killed prebake invoke', () => {
  it('leaves no run directory and no instance after a SIGTERM', async () => {
    const { child } = await busyInvoke();
    child.kill('SIGTERM');
    expect((await child).exitCode).toBe(143);
    expect(await sandbox().tempDirs()).toEqual([]);
    expect(await settled(() => sandbox().processes())).toEqual([]);
  });

  it('leaves a busy instance and its work dir after a SIGKILL, which the next command sweeps', async () => {
    const { child } = await busyInvoke();
    child.kill('SIGKILL');
    await child;
    // What the SIGKILL left: the point of the sweep.
    expect(await sandbox().processes()).not.toEqual([]);
    expect(await sandbox().tempDirs()).not.toEqual([]);

    const ls = await prebake('ls');
    expect(ls.exitCode, ls.stderr).toBe(0);
    expect(await settled(() => sandbox().processes())).toEqual([]);
    expect(await sandbox().tempDirs()).toEqual([]);
  });
});

describe('an endless event input', () => {
  it('stops at the event limit, from a file and from stdin', async () => {
    const fromFile = await prebake('invoke', 'faulty-node', '-d', '@/dev/zero');
    expect(fromFile.exitCode).toBe(2);
    expect(fromFile.stderr).toMatch(/the event is over the limit of 6291456 bytes.*\[PREBAKE_ERR_PAYLOAD_TOO_LARGE\]/);

    const fromStdin = await execa(bin, ['--home', sandbox().home, 'invoke', 'faulty-node', '-d', '-'], {
      reject: false,
      inputFile: '/dev/zero',
    });
    expect(fromStdin.exitCode).toBe(2);
    expect(fromStdin.stderr).toMatch(/PREBAKE_ERR_PAYLOAD_TOO_LARGE/);
  });
});
