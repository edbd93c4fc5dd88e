// What only the Node shim does: the module systems and handler shapes of Node, and results that JavaScript
// can return but the protocol cannot carry. The protocol itself, the same for every runtime, is checked in
// shim-conformance.test.ts.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { MAX_BODY_BYTES } from '../../src/instance/frames.ts';
import { nodeRuntime } from '../../src/runtimes/node/adapter.ts';
import { bodyJson, ShimLauncher } from './shim-process.ts';

const launcher = new ShimLauncher(nodeRuntime);

afterEach(() => launcher.stopAll());
afterAll(() => launcher.cleanup());

describe('the node shim', () => {
  it("runs a CommonJS handler, with require() and require('prebake/runtime')", async () => {
    const shim = await launcher.startReady('node-shim', { handler: 'commonjs.handler' });
    const result = await shim.invoke({}, 'cjs');
    expect(result.header).toEqual({ type: 'result', id: 'cjs', ok: true });
    expect(bodyJson(result)).toEqual({
      commonjs: true,
      hooksApi: expect.arrayContaining(['afterRestore', 'beforeCheckpoint']),
      invocations: 1,
      requestId: 'cjs',
    });
    expect((bodyJson(await shim.invoke({})) as { invocations: number }).invocations).toBe(2);
  });

  it('finds a handler that is a property of the default export', async () => {
    const shim = await launcher.startReady('node-shim', { handler: 'default-export.handler' });
    expect(bodyJson(await shim.invoke({}))).toEqual({ from: 'the default export' });
  });

  it('runs a callback-style handler (event, context, callback), for its result and its error', async () => {
    const shim = await launcher.startReady('node-shim', { handler: 'callback.handler' });
    const result = await shim.invoke({ n: 1 }, 'called-back');
    expect(result.header).toEqual({ type: 'result', id: 'called-back', ok: true });
    expect(bodyJson(result)).toEqual({ echo: { n: 1 }, requestId: 'called-back' });
    const failed = await shim.invoke({ fail: 'no luck' }, 'failed');
    expect(failed.header).toMatchObject({ type: 'result', id: 'failed', ok: false, error: { type: 'RangeError', message: 'no luck' } });
    expect((await shim.invoke({})).header.ok).toBe(true);
  });

  it('answers ok:false for a result over the 64 MiB body limit, and keeps serving', async () => {
    const shim = await launcher.startReady('faulty-node');
    // {"data":"xx…"}: the string alone fills the limit, so the JSON is 11 bytes over it.
    const result = await shim.invoke({ big: MAX_BODY_BYTES }, 'too-big');
    expect(shim.protocolError).toBeUndefined();
    expect(result.header).toMatchObject({ type: 'result', id: 'too-big', ok: false });
    expect(result.header.error).toMatchObject({
      type: 'RangeError',
      message: `the result is ${MAX_BODY_BYTES + 11} bytes of JSON, over the limit of ${MAX_BODY_BYTES}`,
    });
    expect(result.body.length).toBe(0);
    expect((await shim.invoke({ big: 10 })).header.ok).toBe(true);
  });

  it('answers ok:false for a result that JSON has no text for (a function)', async () => {
    const shim = await launcher.startReady('faulty-node');
    const result = await shim.invoke({ returnFunction: true });
    expect(result.header).toMatchObject({
      ok: false,
      error: { type: 'TypeError', message: 'the result is not JSON-serialisable: it is a function' },
    });
    expect((await shim.invoke({})).header.ok).toBe(true);
  });
});
