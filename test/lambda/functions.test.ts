// Lambda's function management against a real daemon, driven by the AWS SDK: create from a zip in each runtime,
// wait until Active with the SDK's own waiter, invoke, update code and configuration, list, delete; a build that
// fails and a package that is refused, as Lambda reports them.
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import {
  CreateFunctionCommand,
  DeleteFunctionCommand,
  GetFunctionCommand,
  InvokeCommand,
  LambdaClient,
  ListFunctionsCommand,
  type Runtime,
  UpdateFunctionCodeCommand,
  UpdateFunctionConfigurationCommand,
  waitUntilFunctionActiveV2,
  waitUntilFunctionUpdatedV2,
} from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import yazl from 'yazl';
import { makeSandbox, ROOT, type Sandbox } from '../helpers.ts';
import { closeAndClean, startServer, type TestServer } from '../server/harness.ts';
import { awsError } from './aws-error.ts';

let sandbox: Sandbox;
let server: TestServer;
let lambda: LambdaClient;

beforeAll(async () => {
  sandbox = await makeSandbox();
  server = await startServer(sandbox);
  lambda = new LambdaClient({
    endpoint: server.url,
    region: 'eu-west-1',
    credentials: { accessKeyId: 'prebake', secretAccessKey: server.token },
    maxAttempts: 1,
  });
});

afterAll(async () => {
  await closeAndClean(server, sandbox);
});

/** A zip of `dir`'s files (function.json left out: Lambda's fields make it), with `extra` files added. */
async function zipOf(dir: string | undefined, extra: Record<string, string> = {}): Promise<Uint8Array> {
  const zip = new yazl.ZipFile();
  if (dir) {
    for (const entry of await readdir(dir, { recursive: true })) {
      const file = path.join(dir, entry);
      if (entry === 'function.json' || !(await stat(file)).isFile()) continue;
      zip.addBuffer(await readFile(file), entry);
    }
  }
  for (const [name, text] of Object.entries(extra)) zip.addBuffer(Buffer.from(text), name);
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const wait = () => ({ client: lambda, maxWaitTime: 240, minDelay: 1, maxDelay: 2 });
const result = async (name: string, event: unknown = {}) => {
  const output = await lambda.send(new InvokeCommand({ FunctionName: name, Payload: Buffer.from(JSON.stringify(event)) }));
  expect(output.FunctionError, Buffer.from(output.Payload ?? []).toString()).toBeUndefined();
  return JSON.parse(Buffer.from(output.Payload!).toString('utf8'));
};

// Lambda asks for an execution role; prebake keeps none.
const ROLE = 'arn:aws:iam::000000000000:role/ignored';

/** Creates a Node function whose package is one index.js. */
const createNode = async (FunctionName: string, indexJs: string) =>
  lambda.send(
    new CreateFunctionCommand({
      FunctionName,
      Runtime: 'nodejs22.x',
      Handler: 'index.handler',
      Role: ROLE,
      Code: { ZipFile: await zipOf(undefined, { 'index.js': indexJs }) },
    }),
  );

const BUNDLED: { name: string; Runtime: Runtime; Handler: string }[] = [
  { name: 'hello-node', Runtime: 'nodejs22.x', Handler: 'index.handler' },
  { name: 'hello-python', Runtime: 'python3.11', Handler: 'main.handler' },
  { name: 'hello-java', Runtime: 'java21', Handler: 'Hello::handleRequest' },
];

describe('functions over the Lambda API', { timeout: 300_000 }, () => {
  it.each(BUNDLED)(
    'creates $name ($Runtime) from a zip: Pending, then Active, then it answers prebaked',
    async ({ name, Runtime, Handler }) => {
      const FunctionName = `lambda-${name}`;
      const created = await lambda.send(
        new CreateFunctionCommand({
          FunctionName,
          Runtime,
          Handler,
          Role: ROLE,
          Code: { ZipFile: await zipOf(path.join(ROOT, 'functions', name)) },
          MemorySize: 256,
          Timeout: 30,
        }),
      );
      expect(created).toMatchObject({
        FunctionName,
        Runtime,
        Handler,
        State: 'Pending',
        LastUpdateStatus: 'InProgress',
        MemorySize: 256,
        Timeout: 30,
      });
      expect(created.FunctionArn).toBe(`arn:aws:lambda:eu-west-1:000000000000:function:${FunctionName}`);
      await waitUntilFunctionActiveV2(wait(), { FunctionName });
      const got = await lambda.send(new GetFunctionCommand({ FunctionName }));
      expect(got.Configuration).toMatchObject({ State: 'Active', LastUpdateStatus: 'Successful', CodeSha256: created.CodeSha256 });
      expect(JSON.stringify(await result(FunctionName, { name: 'Lambda' }))).toContain('Hello, Lambda!');
      // prebake's own API sees the same function, built, and restores it.
      const own = await server.invoke(FunctionName, { name: 'own' });
      expect(own.headers.get('x-prebake-start')).toBe('prebaked');
    },
  );

  it('updates code and configuration: each lands once built, and the old version serves until then', async () => {
    const FunctionName = 'lambda-updated';
    const version = (n: number) => `exports.handler = async (event) => ({ version: ${n}, stage: process.env.STAGE ?? null });\n`;
    await createNode(FunctionName, version(1));
    await waitUntilFunctionActiveV2(wait(), { FunctionName });
    expect(await result(FunctionName)).toEqual({ version: 1, stage: null });

    const updating = await lambda.send(
      new UpdateFunctionCodeCommand({ FunctionName, ZipFile: await zipOf(undefined, { 'index.js': version(2) }) }),
    );
    expect(updating.LastUpdateStatus).toBe('InProgress');
    // Another update while one is under way: Lambda's conflict.
    expect(await awsError(lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName, Timeout: 9 })))).toMatchObject({
      name: 'ResourceConflictException',
      status: 409,
    });
    await waitUntilFunctionUpdatedV2(wait(), { FunctionName });
    expect(await result(FunctionName)).toEqual({ version: 2, stage: null });

    await lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName, Environment: { Variables: { STAGE: 'prod' } } }));
    await waitUntilFunctionUpdatedV2(wait(), { FunctionName });
    expect(await result(FunctionName)).toEqual({ version: 2, stage: 'prod' });
    // One directory per function: the versions it replaced are gone.
    expect(await readdir(path.join(sandbox.store.home, 'lambda', FunctionName))).toHaveLength(1);

    const listed = await lambda.send(new ListFunctionsCommand({}));
    expect(listed.Functions?.map((f) => f.FunctionName)).toContain(FunctionName);
    await lambda.send(new DeleteFunctionCommand({ FunctionName }));
    expect(await awsError(lambda.send(new InvokeCommand({ FunctionName })))).toMatchObject({
      name: 'ResourceNotFoundException',
      status: 404,
    });
    expect(await awsError(lambda.send(new GetFunctionCommand({ FunctionName })))).toMatchObject({ name: 'ResourceNotFoundException' });
  });

  it('reports a build that fails as State Failed with the reason, and refuses what prebake cannot take', async () => {
    const FunctionName = 'lambda-broken';
    await createNode(FunctionName, "throw new Error('no database at init');\n");
    let state: string | undefined;
    let reason: string | undefined;
    for (let i = 0; i < 240 && state !== 'Failed'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      ({ State: state, StateReason: reason } = (await lambda.send(new GetFunctionCommand({ FunctionName }))).Configuration ?? {});
    }
    expect(state).toBe('Failed');
    expect(reason).toMatch(/PREBAKE_ERR_INIT_FAILED.*no database at init/);
    const invoked = await awsError(lambda.send(new InvokeCommand({ FunctionName })));
    expect(invoked).toMatchObject({ name: 'ResourceConflictException', status: 409 });
    expect(invoked.message).toContain('Failed');
    await lambda.send(new DeleteFunctionCommand({ FunctionName }));

    const base = {
      Role: ROLE,
      Handler: 'index.handler',
      Code: { ZipFile: await zipOf(undefined, { 'index.js': '' }) },
    };
    expect(
      await awsError(lambda.send(new CreateFunctionCommand({ ...base, FunctionName: 'x-ruby', Runtime: 'ruby3.3' as Runtime }))),
    ).toMatchObject({
      name: 'InvalidParameterValueException',
      status: 400,
    });
    const taken = await awsError(
      lambda.send(new CreateFunctionCommand({ ...base, FunctionName: 'lambda-hello-node', Runtime: 'nodejs22.x' })),
    );
    expect(taken).toMatchObject({ name: 'ResourceConflictException', status: 409 });
    const notZip = await awsError(
      lambda.send(
        new CreateFunctionCommand({
          ...base,
          FunctionName: 'x-notzip',
          Runtime: 'nodejs22.x',
          Code: { ZipFile: Buffer.from('not a zip') },
        }),
      ),
    );
    expect(notZip).toMatchObject({ name: 'InvalidParameterValueException', status: 400 });
    expect(notZip.message).toMatch(/not a zip archive/);
    // Nothing of the refused packages was kept.
    expect((await readdir(path.join(sandbox.store.home, 'lambda'))).filter((d) => d.startsWith('x-'))).toEqual([]);
  });
});
