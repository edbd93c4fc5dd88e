// A native addon built for another Node ABI: the build keeps Node's own report (both NODE_MODULE_VERSIONs) and
// says to install the function's dependencies with the node that runs it.
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSandbox, ROOT, type Sandbox } from '../helpers.ts';

let sandbox: Sandbox;
let dir: string;

beforeAll(async () => {
  sandbox = await makeSandbox();
  dir = await sandbox.addFunction('abi-mismatch-node');
  await execa('gcc', ['-shared', '-fPIC', '-o', path.join(dir, 'addon.node'), path.join(dir, 'addon.c')]);
});

afterAll(() => sandbox.finish());

describe('an addon built for another Node', () => {
  it("fails the build with Node's report and a hint to install with prebake's node", async () => {
    const result = await execa(process.execPath, [path.join(ROOT, 'src', 'cli', 'main.ts'), '--home', sandbox.home, 'build', dir], {
      reject: false,
    });
    expect(result.exitCode).toBe(5);
    expect(result.stderr).toMatch(
      /compiled against a different Node\.js version using\s+NODE_MODULE_VERSION 115\. This version of Node\.js requires\s+NODE_MODULE_VERSION \d+/,
    );
    expect(result.stderr).toContain('a native addon was built for NODE_MODULE_VERSION 115');
    expect(result.stderr).toContain('`. scripts/env.sh`');
    expect(result.stderr).toContain(`npm rebuild\` in ${dir}`);
    expect(result.stderr).toContain('[PREBAKE_ERR_INIT_FAILED]');
  });
});
