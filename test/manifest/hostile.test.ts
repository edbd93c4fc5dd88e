// function.json and a function's sources come from whoever registers the function: read only from regular
// files, without blocking, bounded, and never echoed back in an error.
import { chmod, mkdir, mkdtemp, open, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPrebakeError } from '../../src/errors.ts';
import { launchInstance, planSandbox } from '../../src/launch/launch.ts';
import { HOST_ID_BASE } from '../../src/launch/sandbox-plan.ts';
import { loadFunction, MAX_MANIFEST_BYTES } from '../../src/manifest/load.ts';
import { prebakeFailure, ROOT } from '../helpers.ts';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'prebake-hostile-'));
  // It holds a sandbox dir: instances' unprivileged user must get through (src/launch/reachable.ts).
  await chmod(root, 0o711);
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function emptyDir(name: string): Promise<string> {
  const dir = path.join(root, name);
  await mkdir(dir, { recursive: true });
  return dir;
}

async function manifestError(dir: string): Promise<Error> {
  const error = await prebakeFailure(loadFunction(dir));
  expect(error.code).toBe('PREBAKE_ERR_MANIFEST');
  return error;
}

describe('reading function.json', () => {
  it('refuses a FIFO at once instead of waiting for a writer (and keeps the threadpool free)', async () => {
    const dir = await emptyDir('fifo');
    await execa('mkfifo', [path.join(dir, 'function.json')]);
    // More than libuv's four threadpool threads: with a blocking open, all would hang.
    const errors = await Promise.all(Array.from({ length: 6 }, () => manifestError(dir)));
    for (const error of errors) expect(error.message).toMatch(/function\.json: it is not a regular file/);
  });

  it(`refuses one over ${MAX_MANIFEST_BYTES} bytes, and a device`, async () => {
    const dir = await emptyDir('huge');
    const env = { BIG: 'x'.repeat(MAX_MANIFEST_BYTES) };
    await writeFile(path.join(dir, 'function.json'), JSON.stringify({ runtime: 'node', handler: 'index.handler', env }));
    expect((await manifestError(dir)).message).toMatch(/over the limit of 65536 bytes/);

    const device = await emptyDir('device');
    await symlink('/dev/zero', path.join(device, 'function.json'));
    expect((await manifestError(device)).message).toMatch(/not a regular file/);
  });

  it('never echoes what it read when the file is not JSON (a link to a secret file)', async () => {
    const secret = path.join(root, 'secret.txt');
    await writeFile(secret, 'root:SECRET-hunter2:0:0\nmore lines\n');
    const dir = await emptyDir('linked');
    await symlink(secret, path.join(dir, 'function.json'));
    const error = await manifestError(dir);
    expect(error.message).toMatch(/not valid JSON/);
    expect(error.message).not.toMatch(/SECRET|root:|hunter2/);
  });
});

describe('an environment too large to exec', () => {
  it('is bad input naming the env, not a missing runtime', async () => {
    const dir = await emptyDir('big-env');
    // Past the 64 KB manifest cap only by a spec built in code: the launcher is the last line.
    const spec = { ...(await specFor(dir)), env: { BIG: 'x'.repeat(200_000) } };
    try {
      launchInstance(
        spec,
        await planSandbox({ home: root, sandboxDir: path.join(root, 'sandbox') }, spec, dir, { argv: ['true'], env: {} }, HOST_ID_BASE),
        '00000000',
      );
      throw new Error('expected the launch to be refused');
    } catch (error) {
      expect(isPrebakeError(error, 'PREBAKE_ERR_MANIFEST'), String(error)).toBe(true);
      expect((error as Error).message).toMatch(/environment is too large/);
    }
  });
});

async function specFor(dir: string) {
  await writeFile(path.join(dir, 'function.json'), JSON.stringify({ runtime: 'node', handler: 'index.handler' }));
  return loadFunction(dir);
}

describe('hashing sources', () => {
  it('streams a large file instead of reading it whole', async () => {
    const dir = await emptyDir('large-source');
    await writeFile(path.join(dir, 'function.json'), JSON.stringify({ runtime: 'node', handler: 'index.handler' }));
    const big = await open(path.join(dir, 'data.bin'), 'w');
    await big.truncate(640 * 1024 * 1024);
    await big.close();
    const script = `import { sourceDigest } from ${JSON.stringify(path.join(ROOT, 'src/manifest/digest.ts'))};
      const digest = await sourceDigest(process.argv[1]);
      console.log(JSON.stringify({ digest, maxRssKb: process.resourceUsage().maxRSS }));`;
    const result = await execa(process.execPath, ['--input-type=module', '-e', script, dir]);
    const { digest, maxRssKb } = JSON.parse(result.stdout) as { digest: string; maxRssKb: number };
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    // Reading the file whole would take at least its 640 MiB.
    expect(maxRssKb).toBeLessThan(256 * 1024);
  });
});
