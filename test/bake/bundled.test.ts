// The bundled functions (functions/*) are what a new user builds first: each must work from a copy of its
// directory anywhere (here a temp dir outside the repository, so nothing can come from prebake's own
// node_modules), and the clone-uniqueness check must have nothing to say about any of them.
import { readdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLED, makeSandbox, ROOT, type Sandbox } from '../helpers.ts';

let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await makeSandbox();
});

afterAll(() => sandbox.finish());

const bundled = (await readdir(BUNDLED)).sort();

describe('bundled functions', () => {
  it('are all here', () => {
    expect(bundled).toEqual(['heavy-java', 'heavy-node', 'heavy-python', 'hello-java', 'hello-node', 'hello-python']);
  });

  it.each(bundled)('%s builds from a copy outside the repository, and its clones share no state', async (name) => {
    const built = await sandbox.build(name, 'bundled');
    expect(built.meta.spec.dir.startsWith(ROOT)).toBe(false);
    // Not skipped: the warm-up event ran in two restored clones and two plain starts of the copy.
    expect(built.meta.cloneCheck).toEqual({ sharedPaths: [] });
    expect(built.warnings).toEqual([]);
  });
});
