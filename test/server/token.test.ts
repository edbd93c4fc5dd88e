// Where the daemon's API token comes from, and the file it makes in its home.
import { chmod, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveApiToken } from '../../src/server/token.ts';

let home: string;
beforeEach(async () => {
  home = await mkdtemp(path.join(os.tmpdir(), 'prebake-token-'));
});
afterEach(async () => {
  await rm(home, { recursive: true, force: true });
});

const invalidInput = { code: 'PREBAKE_ERR_INVALID_INPUT' };

describe('the API token', () => {
  it('is created in <home>/api-token on first start (256 random bits, hex, mode 0600) and reused after', async () => {
    const first = await resolveApiToken({ home });
    const file = path.join(home, 'api-token');
    expect(first).toMatchObject({ from: file, created: true });
    expect(first.token).toMatch(/^[0-9a-f]{64}$/);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await readFile(file, 'utf8')).trim()).toBe(first.token);
    const second = await resolveApiToken({ home });
    expect(second).toEqual({ token: first.token, from: file, created: false });
    // Two first starts at once agree on one token.
    await rm(file);
    const racing = await Promise.all([resolveApiToken({ home }), resolveApiToken({ home })]);
    expect(racing[0].token).toBe(racing[1].token);
    expect(racing.filter((t) => t.created)).toHaveLength(1);
  });

  it('comes from --token-file, else PREBAKE_API_TOKEN, before the home file', async () => {
    const file = path.join(home, 'secret');
    await writeFile(file, 'from-the-file-0123456789\n');
    expect(await resolveApiToken({ home, tokenFile: file, envToken: 'from-the-environment-0123' })).toMatchObject({
      token: 'from-the-file-0123456789',
      from: file,
    });
    expect(await resolveApiToken({ home, envToken: 'from-the-environment-0123' })).toMatchObject({
      token: 'from-the-environment-0123',
      from: 'PREBAKE_API_TOKEN',
    });
    await expect(stat(path.join(home, 'api-token'))).rejects.toThrow();
  });

  it('refuses a short token, a missing token file, and a home token file that others can read', async () => {
    await expect(resolveApiToken({ home, envToken: 'short' })).rejects.toMatchObject(invalidInput);
    await expect(resolveApiToken({ home, tokenFile: path.join(home, 'missing') })).rejects.toMatchObject(invalidInput);
    const { token } = await resolveApiToken({ home });
    const file = path.join(home, 'api-token');
    await chmod(file, 0o644);
    await expect(resolveApiToken({ home })).rejects.toMatchObject({ ...invalidInput, message: expect.stringContaining(file) });
    await rm(file);
    await writeFile(path.join(home, 'elsewhere'), `${token}\n`, { mode: 0o600 });
    await symlink(path.join(home, 'elsewhere'), file);
    await expect(resolveApiToken({ home })).rejects.toMatchObject(invalidInput);
  });
});
