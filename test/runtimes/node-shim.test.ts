// The Node shim run directly (no CRIU): results the protocol cannot carry come back as ok:false.
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_BODY_BYTES } from '../../src/instance/frames.ts';
import { loadFunction } from '../../src/manifest/load.ts';
import { nodeRuntime } from '../../src/runtimes/node/adapter.ts';
import { ShimProcess } from './shim-process.ts';

const FIXTURES = path.join(import.meta.dirname, '../fixtures/functions');

const processes: ShimProcess[] = [];

afterEach(async () => {
  await Promise.all(processes.splice(0).map((shim) => shim.stop()));
});

async function startReady(fixture: string): Promise<ShimProcess> {
  const fn = await loadFunction(path.join(FIXTURES, fixture));
  const shim = new ShimProcess(nodeRuntime.command(fn, ''), fn);
  processes.push(shim);
  expect((await shim.next()).header.type).toBe('ready');
  return shim;
}

describe('the node shim', () => {
  it('answers ok:false for a result over the 64 MiB body limit, and keeps serving', async () => {
    const shim = await startReady('faulty-node');
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
    const shim = await startReady('faulty-node');
    const result = await shim.invoke({ returnFunction: true });
    expect(result.header).toMatchObject({ ok: false, error: { type: 'TypeError', message: 'the result is not JSON-serialisable: it is a function' } });
    expect((await shim.invoke({})).header.ok).toBe(true);
  });
});
