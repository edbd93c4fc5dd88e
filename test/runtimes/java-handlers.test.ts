// Java handlers in the shapes Lambda users write, found by the method's shape: maps and plain values without
// any JSON library, POJOs through the Jackson a function ships (as symbolic links to Debian's jars), and AWS's
// RequestHandler and RequestStreamHandler with prebake's own Context behind AWS's interface.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { invokeFunction } from '../../src/invoke/invoke.ts';
import { javaRuntime } from '../../src/runtimes/java/adapter.ts';
import { makeSandbox, type Sandbox } from '../helpers.ts';
import { bodyJson, ShimLauncher } from './shim-process.ts';

const SLOW = { timeout: 120_000 };
const launcher = new ShimLauncher(javaRuntime);
let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await makeSandbox();
  for (const fixture of ['java-handler-shapes', 'java-jackson', 'java-aws']) await launcher.prepare(fixture);
}, 180_000);

afterEach(() => launcher.stopAll());
afterAll(async () => {
  await launcher.cleanup();
  await sandbox.finish();
});

const errorOf = (frame: { header: Record<string, unknown> }) => frame.header.error as { type: string; message: string };

describe('java handler shapes', SLOW, () => {
  it('binds a Map<String, Object> event and writes a Map result without any JSON library', async () => {
    const shim = await launcher.startReady('java-handler-shapes');
    const answer = await shim.invoke({ n: 7, nested: { list: [1, 2.5, 'x', null, true] } }, 'req-map');
    expect(answer.header.ok).toBe(true);
    expect(bodyJson(answer)).toEqual({ requestId: 'req-map', keys: ['n', 'nested'], nType: 'Integer', nested: { list: [1, 2.5, 'x', null, true] } });
  });

  it('binds a List to a static method returning a long, and a void method answers null', async () => {
    const sum = await launcher.startReady('java-handler-shapes', { handler: 'shapes.MapHandler::sum' });
    expect(bodyJson(await sum.invoke([1, 2, 3_000_000_000]))).toBe(3_000_000_003);
    const nothing = await launcher.startReady('java-handler-shapes', { handler: 'shapes.MapHandler::nothing' });
    expect(bodyJson(await nothing.invoke({}))).toBeNull();
  });

  it('fails init, naming Jackson, for a POJO parameter when the function ships no Jackson', async () => {
    const shim = await launcher.start('java-handler-shapes', { handler: 'shapes.MapHandler::pojo' });
    const first = await shim.next();
    expect(first.header.type).toBe('init-error');
    expect(errorOf(first).message).toMatch(/takes a shapes\.MapHandler\$Point: binding it from JSON needs Jackson/);
  });

  it('binds POJOs with the Jackson the function ships as symbolic links to jars', async () => {
    const shim = await launcher.startReady('java-jackson');
    const answer = await shim.invoke({ item: 'tea', quantity: 3, unitCents: 250, unknownField: 'ignored' });
    expect(answer.header.ok, JSON.stringify(answer.header)).toBe(true);
    expect(bodyJson(answer)).toEqual({ item: 'tea', total_cents: 750, tags: ['priced', 'tea'] });
    // A wrong type is Jackson's own error, as the handler's.
    const bad = await shim.invoke({ quantity: 'many' });
    expect(bad.header.ok).toBe(false);
    expect(errorOf(bad).type).toMatch(/^com\.fasterxml\.jackson\.databind\./);
  });

  it("runs a RequestHandler<Map, Map> with AWS's Context and logger, supplied by prebake", async () => {
    const shim = await launcher.startReady('java-aws');
    const answer = await shim.invoke({ name: 'Ada' }, 'req-aws');
    expect(answer.header.ok, JSON.stringify(answer.header)).toBe(true);
    expect(bodyJson(answer)).toMatchObject({ message: 'Hello, Ada!', requestId: 'req-aws', functionName: 'java-aws', hasTimeLeft: true });
    expect(shim.stdout).toContain('greeting Ada');
  });

  it('runs a RequestHandler<String, String> over JSON strings, and a RequestStreamHandler over bytes', async () => {
    const upper = await launcher.startReady('java-aws', { handler: 'handlers.Upper::handleRequest' });
    expect(bodyJson(await upper.invoke('quiet'))).toBe('QUIET');
    const echo = await launcher.startReady('java-aws', { handler: 'handlers.Echo::handleRequest' });
    expect(bodyJson(await echo.invoke({ a: [1] }, 'req-stream'))).toEqual({ echo: { a: [1] }, requestId: 'req-stream' });
  });

  it('builds and restores a RequestHandler and a Jackson function', async () => {
    for (const fixture of ['java-aws', 'java-jackson']) {
      await sandbox.build(fixture);
      const event = fixture === 'java-aws' ? { name: 'clone' } : { item: 'cake', quantity: 2, unitCents: 100 };
      const outcome = await invokeFunction({ target: fixture, event: JSON.stringify(event) }, sandbox.store, sandbox.criu, sandbox.instances);
      expect(outcome.start).toBe('prebaked');
      expect(JSON.parse(outcome.result)).toMatchObject(fixture === 'java-aws' ? { message: 'Hello, clone!' } : { total_cents: 200 });
    }
  });
});
