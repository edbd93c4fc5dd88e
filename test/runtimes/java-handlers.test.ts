// Java handlers in the shapes Lambda users write, found by the method's shape: maps and plain values without
// any JSON library, POJOs through the Jackson a function ships (as symbolic links to Debian's jars), and AWS's
// RequestHandler and RequestStreamHandler with prebake's own Context behind AWS's interface.
import { cp, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildFunction } from '../../src/bake/build.ts';
import { invokeFunction } from '../../src/invoke/invoke.ts';
import { loadFunction } from '../../src/manifest/load.ts';
import { javaRuntime } from '../../src/runtimes/java/adapter.ts';
import { FIXTURES, makeSandbox, type Sandbox } from '../helpers.ts';
import { bodyJson, lambdaCall, ShimLauncher } from './shim-process.ts';

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
    expect(bodyJson(answer)).toEqual({
      requestId: 'req-map',
      keys: ['n', 'nested'],
      nType: 'Integer',
      nested: { list: [1, 2.5, 'x', null, true] },
    });
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

  it("says why a method of the handler's name was not taken: its second parameter is not a Context", async () => {
    const shim = await launcher.start('java-handler-shapes', { handler: 'shapes.MapHandler::wrongContext' });
    const first = await shim.next();
    expect(first.header.type).toBe('init-error');
    expect(errorOf(first).message).toContain(
      'wrongContext(Map, Object) was not taken: its second parameter is Object; expected Context: prebake.Context (or com.amazonaws.services.lambda.runtime.Context when the function ships aws-lambda-java-core)',
    );
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

  it("answers AWS's Context with Lambda's fields, the caller's client context and identity behind AWS's interfaces", async () => {
    const shim = await launcher.startReady('java-aws', { handler: 'handlers.Contextual::handleRequest' });
    const { clientContext, identity, fields: header } = lambdaCall('java-aws');
    const ask = (extra: Record<string, string>) => {
      shim.send({ type: 'invoke', id: 'req-context', deadline: Date.now() + 20_000, ...header, ...extra }, '{}');
      return shim.next().then(bodyJson);
    };
    expect(await ask({ clientContext: JSON.stringify(clientContext), identity: JSON.stringify(identity) })).toEqual({
      functionVersion: '$LATEST',
      invokedFunctionArn: header.arn,
      logGroupName: header.logGroup,
      logStreamName: header.logStream,
      installationId: 'install-1',
      appTitle: 'Cake shop',
      custom: { flavour: 'lemon' },
      environment: { locale: 'en' },
      identityId: 'eu-west-1:abc',
      identityPoolId: 'eu-west-1:pool',
    });
    expect(await ask({})).toMatchObject({ invokedFunctionArn: header.arn, identityId: null });
    expect(await ask({})).not.toHaveProperty('installationId');
  });

  it('runs a RequestHandler<String, String> over JSON strings, and a RequestStreamHandler over bytes', async () => {
    const upper = await launcher.startReady('java-aws', { handler: 'handlers.Upper::handleRequest' });
    expect(bodyJson(await upper.invoke('quiet'))).toBe('QUIET');
    const echo = await launcher.startReady('java-aws', { handler: 'handlers.Echo::handleRequest' });
    expect(bodyJson(await echo.invoke({ a: [1] }, 'req-stream'))).toEqual({ echo: { a: [1] }, requestId: 'req-stream' });
  });

  it("takes AWS's Context from the function's own aws-lambda-java-core jar, built and restored", async () => {
    // Maven Central is out of reach here: a jar of the same interfaces (names, packages, methods of 1.2.3),
    // compiled now, stands in for the real one.
    const dir = path.join(sandbox.root, 'functions', 'java-aws-jar');
    await cp(path.join(FIXTURES, 'java-aws'), dir, { recursive: true });
    await rm(path.join(dir, 'aws-lambda-java-core'), { recursive: true });
    await writeFile(path.join(dir, 'function.json'), JSON.stringify({ runtime: 'java', handler: 'handlers.Greeter::handleRequest' }));
    const sources = path.join(sandbox.root, 'aws-lambda-java-core-src');
    for (const [file, text] of Object.entries(AWS_LAMBDA_JAVA_CORE)) {
      await mkdir(path.dirname(path.join(sources, file)), { recursive: true });
      await writeFile(path.join(sources, file), text);
    }
    const classes = path.join(sandbox.root, 'aws-lambda-java-core-classes');
    await execa('javac', ['-d', classes, ...Object.keys(AWS_LAMBDA_JAVA_CORE).map((file) => path.join(sources, file))]);
    await mkdir(path.join(dir, 'lib'));
    await execa('jar', ['cf', path.join(dir, 'lib', 'aws-lambda-java-core-1.2.3.jar'), '-C', classes, '.']);

    await buildFunction(await loadFunction(dir), { store: sandbox.store, criu: sandbox.criu, instances: sandbox.instances });
    const outcome = await invokeFunction(
      { target: 'java-aws-jar', event: JSON.stringify({ name: 'jar' }) },
      sandbox.store,
      sandbox.criu,
      sandbox.instances,
    );
    expect(outcome.start).toBe('prebaked');
    expect(JSON.parse(outcome.result)).toMatchObject({ message: 'Hello, jar!', functionName: 'java-aws-jar', hasTimeLeft: true });
  });

  it('builds and restores a RequestHandler and a Jackson function', async () => {
    for (const fixture of ['java-aws', 'java-jackson']) {
      await sandbox.build(fixture);
      const event = fixture === 'java-aws' ? { name: 'clone' } : { item: 'cake', quantity: 2, unitCents: 100 };
      const outcome = await invokeFunction(
        { target: fixture, event: JSON.stringify(event) },
        sandbox.store,
        sandbox.criu,
        sandbox.instances,
      );
      expect(outcome.start).toBe('prebaked');
      expect(JSON.parse(outcome.result)).toMatchObject(fixture === 'java-aws' ? { message: 'Hello, clone!' } : { total_cents: 200 });
    }
  });
});

// aws-lambda-java-core 1.2.3's interfaces as its jar declares them (package, names, methods), bodies aside.
const RUNTIME = 'com/amazonaws/services/lambda/runtime';
const AWS_LAMBDA_JAVA_CORE: Record<string, string> = {
  [`${RUNTIME}/Context.java`]: `package com.amazonaws.services.lambda.runtime;
public interface Context {
  String getAwsRequestId(); String getLogGroupName(); String getLogStreamName(); String getFunctionName();
  String getFunctionVersion(); String getInvokedFunctionArn(); CognitoIdentity getIdentity(); ClientContext getClientContext();
  int getRemainingTimeInMillis(); int getMemoryLimitInMB(); LambdaLogger getLogger();
}`,
  [`${RUNTIME}/CognitoIdentity.java`]: `package com.amazonaws.services.lambda.runtime;
public interface CognitoIdentity { String getIdentityId(); String getIdentityPoolId(); }`,
  [`${RUNTIME}/ClientContext.java`]: `package com.amazonaws.services.lambda.runtime;
public interface ClientContext { Client getClient(); java.util.Map<String, String> getCustom(); java.util.Map<String, String> getEnvironment(); }`,
  [`${RUNTIME}/Client.java`]: `package com.amazonaws.services.lambda.runtime;
public interface Client { String getInstallationId(); String getAppTitle(); String getAppVersionName(); String getAppVersionCode(); String getAppPackageName(); }`,
  [`${RUNTIME}/LambdaLogger.java`]: `package com.amazonaws.services.lambda.runtime;
import com.amazonaws.services.lambda.runtime.logging.LogLevel;
public interface LambdaLogger {
  void log(String message); void log(byte[] message);
  default void log(String message, LogLevel logLevel) { log(message); }
  default void log(byte[] message, LogLevel logLevel) { log(message); }
}`,
  [`${RUNTIME}/logging/LogLevel.java`]: `package com.amazonaws.services.lambda.runtime.logging;
public enum LogLevel { UNDEFINED, TRACE, DEBUG, INFO, WARN, ERROR, FATAL }`,
  [`${RUNTIME}/RequestHandler.java`]: `package com.amazonaws.services.lambda.runtime;
public interface RequestHandler<I, O> { O handleRequest(I input, Context context); }`,
  [`${RUNTIME}/RequestStreamHandler.java`]: `package com.amazonaws.services.lambda.runtime;
public interface RequestStreamHandler { void handleRequest(java.io.InputStream input, java.io.OutputStream output, Context context) throws java.io.IOException; }`,
};
