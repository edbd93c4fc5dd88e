import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, PrebakeError, toPrebakeError } from '../src/errors.ts';
import { loadSpawnAddon } from '../src/launch/spawn.ts';
import { ROOT } from './helpers.ts';

describe('error codes', () => {
  it('are all documented in docs/ERRORS.md with their exit code and HTTP status', async () => {
    const doc = await readFile(path.join(ROOT, 'docs', 'ERRORS.md'), 'utf8');
    for (const [code, { exit, status }] of Object.entries(ERROR_CODES)) {
      expect(doc, code).toMatch(new RegExp(`\\| \`${code}\` \\| ${exit} \\| ${status} \\|`));
    }
  });

  it('keep a PrebakeError as it is and wrap anything else as internal', () => {
    const known = new PrebakeError('PREBAKE_ERR_TIMEOUT', 'slow');
    expect(toPrebakeError(known)).toBe(known);
    const wrapped = toPrebakeError(new Error('boom'));
    expect(wrapped.code).toBe('PREBAKE_ERR_INTERNAL');
    expect(wrapped.cause).toBeInstanceOf(Error);
    expect(known.exitCode).toBe(7);
    expect(known.httpStatus).toBe(504);
  });

  it('cover every code the native addons throw, and an addon error keeps its code', async () => {
    for (const file of (await readdir(path.join(ROOT, 'native'))).filter((name) => name.endsWith('.c'))) {
      const source = await readFile(path.join(ROOT, 'native', file), 'utf8');
      for (const [code] of source.matchAll(/PREBAKE_ERR_[A-Z_]+/g)) expect(Object.keys(ERROR_CODES), `${file}: ${code}`).toContain(code);
    }
    let thrown: unknown;
    try {
      loadSpawnAddon().spawn('true', ['true'], [], 'not a function' as never);
    } catch (error) {
      thrown = error;
    }
    expect(toPrebakeError(thrown)).toMatchObject({
      code: 'PREBAKE_ERR_SPAWN',
      message: expect.stringContaining('onExit must be a function'),
    });
  });
});
