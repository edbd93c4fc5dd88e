// The printed sandbox plan (`prebake doctor --plan`) is the whole view: every entry an instance sees in its
// root's directories and every mount it has, no more and no fewer, at build, restored and plainly started.
// A drift between the plan and what the skeleton or the launcher make fails here.
import { statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ViewOp } from '../../src/launch/view-ops.ts';
import type { SandboxReport } from '../../src/sandbox-report.ts';
import { makeSandbox, ROOT, runPrebake, type Sandbox, settled } from '../helpers.ts';

let sandbox: Sandbox;
let dir: string;
const prebake = (...args: string[]) => runPrebake(['--home', sandbox.home, ...args]);

beforeAll(async () => {
  sandbox = await makeSandbox();
  dir = await sandbox.addFunction('view-node');
});

afterAll(async () => {
  try {
    expect(await settled(() => sandbox.processes())).toEqual([]);
  } finally {
    await sandbox.cleanup();
  }
});

interface Seen {
  dirs: Record<string, string[]>;
  mounts: string[];
}

const MOUNTS = new Set<ViewOp['kind']>(['ro-bind', 'dev-bind', 'proc', 'tmpfs']);

// What the plan says `dir` (a directory of the root itself) holds: the next name of every target below it.
function plannedEntries(view: ViewOp[], dir: string): string[] {
  const names = view
    .map((op) => path.relative(dir, op.target))
    .filter((relative) => relative !== '' && !relative.startsWith('..'))
    .map((relative) => relative.split('/')[0]!);
  return [...new Set(names)].sort();
}

const plannedMounts = (view: ViewOp[]) => ['/', ...view.filter((op) => MOUNTS.has(op.kind)).map((op) => op.target)].sort();

async function printedPlan(target: string): Promise<SandboxReport> {
  const result = await prebake('doctor', '--plan', target, '--json');
  expect(result.exitCode, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as SandboxReport;
}

function expectSeen(seen: Seen, report: SandboxReport): void {
  for (const [where, entries] of Object.entries(seen.dirs))
    expect(entries, `${where} of the view`).toEqual(plannedEntries(report.view, where));
  expect(seen.mounts).toEqual(plannedMounts(report.view));
}

describe('the printed sandbox plan', () => {
  it("lists every entry of a built function's view, as its instances see it at build and restored", async () => {
    const build = await prebake('build', dir);
    expect(build.exitCode, build.stderr).toBe(0);
    const report = await printedPlan('view-node');
    expect(report.from).toBe('image');
    // A plan that says little would pass the comparison: this one holds the root's files, /etc and binds.
    expect(report.view.map((op) => op.target)).toEqual(
      expect.arrayContaining(['/etc/passwd', '/etc/hosts', '/usr', '/var/task', '/proc', '/tmp']),
    );
    const invoke = await prebake('invoke', 'view-node');
    expect(invoke.exitCode, invoke.stderr).toBe(0);
    const seen = JSON.parse(invoke.stdout) as Seen & { atInit: Seen };
    expectSeen(seen.atInit, report);
    expectSeen(seen, report);

    // A root swept since (store/unreferenced.ts) is made again from the stored plan: the same name, the same view.
    // A process of its own, as the next CLI call is: this one remembers the roots it made (launch/skeleton.ts).
    await rm(report.root, { recursive: true, force: true });
    const again = await execa(path.join(ROOT, 'bin', 'prebake'), ['--home', sandbox.home, 'invoke', 'view-node'], { reject: false });
    expect(again.exitCode, again.stderr).toBe(0);
    expect(statSync(report.root).isDirectory()).toBe(true);
    expectSeen(JSON.parse(again.stdout) as Seen, report);
  });

  it("lists every entry of a directory's plain start, with its ids, limits and environment", async () => {
    const report = await printedPlan(dir);
    expect(report.from).toBe('plain start');
    expect(report.ids).toMatchObject({ uid: 1000, gid: 1000, uidMap: { inside: 0, count: 65536 } });
    expect(report.limits.memoryBytes).toBeGreaterThan(0);
    expect(report.env).toMatchObject({ PREBAKE_FUNCTION_NAME: 'view-node' });
    expect(report.argv[0]).toMatch(/node$/);
    const invoke = await prebake('invoke', dir, '--mode', 'cold');
    expect(invoke.exitCode, invoke.stderr).toBe(0);
    expectSeen(JSON.parse(invoke.stdout) as Seen, report);

    const text = await prebake('doctor', '--plan', dir);
    expect(text.stdout).toMatch(/^ {2}file {5}\/etc\/passwd \(mode 0644/m);
    expect(text.stdout).toMatch(/^ {2}ro-bind {2}\/var\/task <- /m);
  });

  it('names a function that is not there', async () => {
    const result = await prebake('doctor', '--plan', 'no-such-function');
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toMatch(/no-such-function/);
  });
});
