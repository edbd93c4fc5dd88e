import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, PrebakeError, toPrebakeError } from '../src/errors.ts';
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
});
