// One policy on both surfaces: a function name belongs to the directory that registered it. `prebake build` and
// the daemon's POST /functions refuse another directory with the same error (code, message, the core's hint),
// and both take the name over when asked (--replace, ?replace=true).
import { cp, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FIXTURES, makeSandbox, ROOT, type Sandbox } from '../helpers.ts';
import { apiError, closeAndClean, startServer, type TestServer } from '../server/harness.ts';

let sandbox: Sandbox;
let server: TestServer;

beforeAll(async () => {
  sandbox = await makeSandbox();
  server = await startServer(sandbox);
}, 600_000);

afterAll(() => closeAndClean(server, sandbox));

const prebake = (...args: string[]) => execa(path.join(ROOT, 'bin', 'prebake'), ['--home', sandbox.home, ...args], { reject: false });

/** A copy of the faulty-node fixture at `<sandbox>/<relative>`, named by its function.json "faulty-node". */
async function functionAt(relative: string): Promise<string> {
  const dir = path.join(sandbox.root, relative);
  await mkdir(path.dirname(dir), { recursive: true });
  await cp(path.join(FIXTURES, 'faulty-node'), dir, { recursive: true });
  return dir;
}

async function registeredDir(): Promise<string> {
  const ls = await prebake('ls', '--json');
  expect(ls.exitCode, ls.stderr).toBe(0);
  const [meta] = JSON.parse(ls.stdout) as { spec: { dir: string } }[];
  return meta!.spec.dir;
}

const CORE_HINT = 'give the function another "name" in its function.json, or replace the registered one';

it('refuses a name taken by another directory on the CLI and the daemon alike, and --replace / replace=true take it', async () => {
  const owner = await functionAt('team-a/faulty-node');
  const intruder = await functionAt('team-b/faulty-node');
  const built = await prebake('build', owner);
  expect(built.exitCode, built.stderr).toBe(0);

  const cli = await prebake('build', intruder);
  expect(cli.exitCode).toBe(4);
  const line = /^prebake: (.*) \((.*)\) \[(PREBAKE_ERR_\w+)\]$/m.exec(cli.stderr);
  expect(line, cli.stderr).not.toBeNull();
  const [, cliMessage, cliHint, cliCode] = line!;

  const http = await server.post('/functions', { path: intruder });
  expect(http.status).toBe(409);
  const error = await apiError(http);

  expect(cliCode).toBe('PREBAKE_ERR_NAME_TAKEN');
  expect(error.code).toBe(cliCode);
  expect(cliMessage).toBe(error.message);
  expect(cliMessage).toContain(owner);
  expect(cliHint).toContain(CORE_HINT);
  expect(error.hint).toContain(CORE_HINT);
  // Each surface says how to take the name its own way.
  expect(cliHint).toContain('prebake build --replace');
  expect(error.hint).toContain('replace=true');
  // Neither refusal built anything.
  expect(await registeredDir()).toBe(owner);

  const replaced = await prebake('build', '--replace', intruder);
  expect(replaced.exitCode, replaced.stderr).toBe(0);
  expect(await registeredDir()).toBe(intruder);

  const back = await server.post('/functions?replace=true', { path: owner });
  expect(back.status, await back.clone().text()).toBe(201);
  expect(((await back.json()) as { dir: string }).dir).toBe(owner);
  expect(await registeredDir()).toBe(owner);
}, 600_000);
