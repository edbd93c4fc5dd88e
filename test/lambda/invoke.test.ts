// Lambda's Invoke against a real daemon, driven by the AWS SDK (@aws-sdk/client-lambda) as users drive Lambda:
// every answer a fresh prebaked instance, real criu.
import { InvokeCommand, type InvokeCommandOutput, LambdaClient } from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSandbox, type Sandbox } from '../helpers.ts';
import { closeAndClean, metricValue, registerFixture, startServer, type TestServer } from '../server/harness.ts';
import { awsError } from './aws-error.ts';

let sandbox: Sandbox;
let server: TestServer;
const EXTRA_KEY = { accessKeyId: 'AKIDCAKESHOP', secretAccessKey: 'another-secret-of-the-config-file' };

beforeAll(async () => {
  sandbox = await makeSandbox();
  server = await startServer(sandbox, { lambda: { keys: [EXTRA_KEY] } });
  await registerFixture(server, sandbox, 'lambda-node');
});

afterAll(async () => {
  await closeAndClean(server, sandbox);
});

function client(accessKeyId = 'prebake', secretAccessKey = server.token): LambdaClient {
  return new LambdaClient({ endpoint: server.url, region: 'eu-west-1', credentials: { accessKeyId, secretAccessKey }, maxAttempts: 1 });
}

const payload = (output: InvokeCommandOutput) => JSON.parse(Buffer.from(output.Payload!).toString('utf8'));
const json = (value: unknown) => Buffer.from(JSON.stringify(value));

describe('Invoke over the AWS SDK', () => {
  it("answers RequestResponse with the result, Lambda's context, the client context and the tail of the log", async () => {
    const clientContext = { client: { installation_id: 'install-1' }, custom: { shop: 'cakes' }, env: {} };
    const output = await client().send(
      new InvokeCommand({
        FunctionName: 'lambda-node',
        Payload: json({ n: 1, log: 'hello from the handler' }),
        LogType: 'Tail',
        ClientContext: Buffer.from(JSON.stringify(clientContext)).toString('base64'),
      }),
    );
    expect(output.StatusCode).toBe(200);
    expect(output.FunctionError).toBeUndefined();
    expect(output.ExecutedVersion).toBe('$LATEST');
    const result = payload(output);
    expect(result).toMatchObject({
      event: { n: 1 },
      arn: 'arn:aws:lambda:eu-west-1:000000000000:function:lambda-node',
      version: '$LATEST',
      clientContext,
    });
    expect(result.logStream).toMatch(/^\d{4}\/\d{2}\/\d{2}\/\[\$LATEST\][0-9a-f]{32}$/);
    const log = Buffer.from(output.LogResult!, 'base64').toString('utf8');
    expect(log).toContain(`START RequestId: ${result.requestId} Version: $LATEST`);
    expect(log).toContain('hello from the handler');
    expect(log).toMatch(/REPORT RequestId: \S+\tDuration: [\d.]+ ms/);
  });

  it('takes the function by ARN, partial ARN and name:$LATEST, and refuses another qualifier', async () => {
    const arn = 'arn:aws:lambda:us-west-2:123456789012:function:lambda-node';
    expect(payload(await client().send(new InvokeCommand({ FunctionName: arn, Payload: json({}) }))).arn).toBe(arn);
    for (const name of ['123456789012:function:lambda-node', 'lambda-node:$LATEST']) {
      expect((await client().send(new InvokeCommand({ FunctionName: name, Payload: json({}) }))).StatusCode).toBe(200);
    }
    const refused = await awsError(client().send(new InvokeCommand({ FunctionName: 'lambda-node', Qualifier: 'prod' })));
    expect(refused).toMatchObject({ name: 'ResourceNotFoundException', status: 404 });
    expect(refused.message).toMatch(/lambda-node:prod/);
  });

  it("answers a handler's error as Lambda does: 200, FunctionError Unhandled, its type, message and stack", async () => {
    const output = await client().send(new InvokeCommand({ FunctionName: 'lambda-node', Payload: json({ throw: 'no cake today' }) }));
    expect(output.StatusCode).toBe(200);
    expect(output.FunctionError).toBe('Unhandled');
    const error = payload(output);
    expect(error).toMatchObject({ errorType: 'TypeError', errorMessage: 'no cake today' });
    expect(error.stackTrace.join('\n')).toMatch(/index\.js/);
  });

  it('queues an Event invocation (202) and runs it in the background, counting it in /metrics', async () => {
    const sample = 'prebake_lambda_event_invocations_total{function="lambda-node",outcome="ok"}';
    const before = metricValue(await (await server.get('/metrics')).text(), sample);
    const output = await client().send(new InvokeCommand({ FunctionName: 'lambda-node', InvocationType: 'Event', Payload: json({}) }));
    expect(output.StatusCode).toBe(202);
    expect(output.Payload?.length ?? 0).toBe(0);
    let after = before;
    for (let i = 0; i < 300 && after === before; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      after = metricValue(await (await server.get('/metrics')).text(), sample);
    }
    expect(after).toBe(before + 1);
  });

  it('answers DryRun with 204 for a known function, and names the unknown one', async () => {
    expect((await client().send(new InvokeCommand({ FunctionName: 'lambda-node', InvocationType: 'DryRun' }))).StatusCode).toBe(204);
    const unknown = await awsError(client().send(new InvokeCommand({ FunctionName: 'no-such-fn', InvocationType: 'DryRun' })));
    expect(unknown).toMatchObject({ name: 'ResourceNotFoundException', status: 404 });
    expect(unknown.message).toContain('no-such-fn');
  });

  it('refuses a payload that is not JSON (400) or over 6 MB (413), by their Lambda names', async () => {
    const bad = await awsError(client().send(new InvokeCommand({ FunctionName: 'lambda-node', Payload: Buffer.from('{"n":') })));
    expect(bad).toMatchObject({ name: 'InvalidRequestContentException', status: 400 });
    const huge = await awsError(
      client().send(new InvokeCommand({ FunctionName: 'lambda-node', Payload: Buffer.alloc(6 * 1024 * 1024 + 1, 32) })),
    );
    expect(huge).toMatchObject({ name: 'RequestTooLargeException', status: 413 });
  });

  it("takes the config's own keys and the bearer token, and refuses a wrong secret, an unknown key and no credentials", async () => {
    const other = client(EXTRA_KEY.accessKeyId, EXTRA_KEY.secretAccessKey);
    expect((await other.send(new InvokeCommand({ FunctionName: 'lambda-node', Payload: json({}) }))).StatusCode).toBe(200);
    expect(await awsError(client('prebake', 'not-the-token').send(new InvokeCommand({ FunctionName: 'lambda-node' })))).toMatchObject({
      name: 'InvalidSignatureException',
      status: 403,
    });
    expect(
      await awsError(client('AKIDSTRANGER', 'whatever-secret').send(new InvokeCommand({ FunctionName: 'lambda-node' }))),
    ).toMatchObject({
      name: 'UnrecognizedClientException',
      status: 403,
    });
    const bare = await fetch(`${server.url}/2015-03-31/functions/lambda-node/invocations`, { method: 'POST', body: '{}' });
    expect(bare.status).toBe(403);
    expect(bare.headers.get('x-amzn-errortype')).toBe('MissingAuthenticationTokenException');
    const bearer = await server.post('/2015-03-31/functions/lambda-node/invocations', { via: 'bearer' });
    expect(bearer.status).toBe(200);
    expect(((await bearer.json()) as { event: unknown }).event).toEqual({ via: 'bearer' });
  });

  it("serves the Runtime Interface Emulator's path with the only function there is", async () => {
    const response = await server.post('/2015-03-31/functions/function/invocations', { rie: true });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { event: unknown }).event).toEqual({ rie: true });
  });
});
