// Bundled functions whose source is generated: the committed file must be what its generator writes today.
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers.ts';

describe('generated bundled sources', () => {
  it('functions/heavy-java/Heavy.java matches scripts/gen-heavy-java.py', async () => {
    const result = await execa('python3', [path.join(ROOT, 'scripts', 'gen-heavy-java.py'), '--check'], { reject: false });
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
  });
});
