// The core's errors say what happened; the CLI and the HTTP API each say what to do in their own words.
import { describe, expect, it } from 'vitest';
import { cliHint } from '../../src/cli/hints.ts';
import { PrebakeError } from '../../src/errors.ts';
import { httpHint } from '../../src/server/hints.ts';

const stale = (reason: string) =>
  new PrebakeError('PREBAKE_ERR_IMAGE_STALE', 'function "hello": its source changed', {
    functionName: 'hello',
    hint: 'rebuild it, or invoke the built version by its name',
    details: { reason, dir: '/srv/fn/hello' },
  });

describe('surface hints', () => {
  it('turn a stale image into a CLI command and an HTTP request, each in its own words', () => {
    const error = stale('source-changed');
    expect(cliHint(error)).toBe('rebuild it: prebake build /srv/fn/hello, or invoke the built version by its name (prebake invoke hello)');
    expect(httpHint(error)).toBe('rebuild it: POST /functions/hello/build');
    // A host that changed leaves no built version to fall back on.
    expect(cliHint(stale('host-changed'))).toBe('rebuild it: prebake build /srv/fn/hello');
  });

  it('keep the core hint where the surface has nothing to add (a transient restore failure, an unlisted code)', () => {
    const transient = new PrebakeError('PREBAKE_ERR_RESTORE_FAILED', 'criu restore failed: the disk is full', {
      hint: 'a problem of the host, not of the image: free disk or memory and retry',
      details: { transient: 'the disk holding the store is full' },
    });
    expect(cliHint(transient)).toBe(transient.hint);
    expect(httpHint(transient)).toBe(transient.hint);
    const timeout = new PrebakeError('PREBAKE_ERR_TIMEOUT', 'slow', { hint: 'raise timeoutMs in function.json' });
    expect(cliHint(timeout)).toBe('raise timeoutMs in function.json');
    expect(httpHint(timeout)).toBe('raise timeoutMs in function.json');
  });

  it('name no other surface: the CLI no route, the HTTP API no command or flag', () => {
    const errors = [
      new PrebakeError('PREBAKE_ERR_UNKNOWN_FUNCTION', 'no function named "x" is built here', { functionName: 'x' }),
      new PrebakeError('PREBAKE_ERR_NOT_BUILT', 'function "x" has no image', {
        functionName: 'x',
        details: { reason: 'no-image', dir: '/d' },
      }),
      new PrebakeError('PREBAKE_ERR_IMAGE_CORRUPT', 'corrupt', { functionName: 'x', hint: 'rebuild it', details: { dir: '/d' } }),
      new PrebakeError('PREBAKE_ERR_RESTORE_FAILED', 'criu restore failed', { functionName: 'x', hint: 'the image may be corrupt' }),
      new PrebakeError('PREBAKE_ERR_BUNDLE_INCOMPATIBLE', 'incompatible', { functionName: 'x', hint: 'import it forced' }),
      stale('source-moved'),
    ];
    for (const error of errors) {
      expect(cliHint(error), error.code).not.toMatch(/POST|GET \/|DELETE|\?force/);
      expect(httpHint(error), error.code).not.toMatch(/prebake \w|--/);
    }
  });
});
