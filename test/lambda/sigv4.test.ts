// SigV4 verification against requests the real AWS SDK signs and sends to a real listening server.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InvokeCommand, LambdaClient, ListFunctionsCommand } from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSigV4, type ReceivedRequest, verifySigV4 } from '../../src/lambda/sigv4.ts';

const KEYS: Record<string, string> = { prebake: 'the-daemon-api-token-0123456789' };
const secretOf = (id: string) => KEYS[id];

let server: Server;
let endpoint: string;
const received: ReceivedRequest[] = [];

beforeAll(async () => {
  server = createServer((request: IncomingMessage, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({ method: request.method!, url: request.url!, headers: request.headers, body: Buffer.concat(chunks) });
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(request.url!.endsWith('/invocations') ? '{}' : '{"Functions":[]}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => {
  server.close();
});

function client(accessKeyId = 'prebake', secretAccessKey = KEYS.prebake!, region = 'eu-west-1'): LambdaClient {
  return new LambdaClient({ endpoint, region, credentials: { accessKeyId, secretAccessKey }, maxAttempts: 1 });
}

/** What the SDK sent for `send`. */
async function sent(send: () => Promise<unknown>): Promise<ReceivedRequest> {
  const before = received.length;
  await send();
  expect(received.length).toBe(before + 1);
  return received.at(-1)!;
}

describe('verifySigV4', () => {
  it('accepts what the AWS SDK signs: an invoke with a payload, a name that needs escaping, and a GET with a query', async () => {
    const invoke = await sent(() =>
      client().send(new InvokeCommand({ FunctionName: 'hello-node:$LATEST', Payload: Buffer.from('{"n":1}'), LogType: 'Tail' })),
    );
    expect(isSigV4(invoke.headers)).toBe(true);
    expect(await verifySigV4(invoke, secretOf)).toEqual({ ok: true, accessKeyId: 'prebake', region: 'eu-west-1' });
    const list = await sent(() =>
      client('prebake', KEYS.prebake, 'us-east-1').send(new ListFunctionsCommand({ MaxItems: 5, Marker: 'a b/c' })),
    );
    expect(list.url).toContain('?');
    expect(await verifySigV4(list, secretOf)).toMatchObject({ ok: true, region: 'us-east-1' });
  });

  it('refuses a changed body, path, signed header or signature, a wrong secret and an unknown key, each by its AWS name', async () => {
    const good = await sent(() => client().send(new InvokeCommand({ FunctionName: 'hello-node', Payload: Buffer.from('{"n":1}') })));
    const mismatch = { ok: false, type: 'InvalidSignatureException' };
    expect(await verifySigV4({ ...good, body: Buffer.from('{"n":2}') }, secretOf)).toMatchObject(mismatch);
    expect(await verifySigV4({ ...good, url: good.url.replace('hello-node', 'other-fn') }, secretOf)).toMatchObject(mismatch);
    // A header the client did not sign may not steer the call.
    expect(await verifySigV4({ ...good, headers: { ...good.headers, 'x-amz-invocation-type': 'Event' } }, secretOf)).toMatchObject(
      mismatch,
    );
    const signedType = await sent(() => client().send(new InvokeCommand({ FunctionName: 'hello-node', InvocationType: 'Event' })));
    expect(
      await verifySigV4({ ...signedType, headers: { ...signedType.headers, 'x-amz-invocation-type': 'RequestResponse' } }, secretOf),
    ).toMatchObject(mismatch);
    const flipped = String(good.headers.authorization).replace(/Signature=(.)/, (_, c: string) => `Signature=${c === '0' ? '1' : '0'}`);
    expect(await verifySigV4({ ...good, headers: { ...good.headers, authorization: flipped } }, secretOf)).toMatchObject(mismatch);
    const wrongSecret = await sent(() => client('prebake', 'not-the-secret').send(new InvokeCommand({ FunctionName: 'hello-node' })));
    expect(await verifySigV4(wrongSecret, secretOf)).toMatchObject(mismatch);
    const stranger = await sent(() => client('AKIDSTRANGER').send(new InvokeCommand({ FunctionName: 'hello-node' })));
    expect(await verifySigV4(stranger, secretOf)).toMatchObject({ ok: false, type: 'UnrecognizedClientException' });
  });

  it('refuses a signature older or newer than 15 minutes, and a request with no signature', async () => {
    const good = await sent(() => client().send(new InvokeCommand({ FunctionName: 'hello-node' })));
    expect(await verifySigV4(good, secretOf, Date.now() + 14 * 60_000)).toMatchObject({ ok: true });
    const late = await verifySigV4(good, secretOf, Date.now() + 16 * 60_000);
    expect(late).toMatchObject({ ok: false, type: 'InvalidSignatureException' });
    expect(late.ok === false && late.message).toMatch(/^Signature expired: \d{8}T\d{6}Z is not within 15 minutes/);
    expect(await verifySigV4(good, secretOf, Date.now() - 16 * 60_000)).toMatchObject({ ok: false, type: 'InvalidSignatureException' });
    const { authorization: _, ...unsigned } = good.headers;
    expect(await verifySigV4({ ...good, headers: unsigned }, secretOf)).toMatchObject({
      ok: false,
      type: 'MissingAuthenticationTokenException',
    });
    expect(isSigV4(unsigned)).toBe(false);
    expect(isSigV4({ authorization: 'Bearer abc' })).toBe(false);
  });

  it('refuses a malformed Authorization header and a declared payload hash the body does not have', async () => {
    const good = await sent(() => client().send(new InvokeCommand({ FunctionName: 'hello-node', Payload: Buffer.from('{}') })));
    const garbled = { ...good, headers: { ...good.headers, authorization: 'AWS4-HMAC-SHA256 Credential=prebake' } };
    expect(await verifySigV4(garbled, secretOf)).toMatchObject({ ok: false, type: 'IncompleteSignatureException' });
    const declared = { ...good, headers: { ...good.headers, 'x-amz-content-sha256': '0'.repeat(64) } };
    expect(await verifySigV4(declared, secretOf)).toMatchObject({ ok: false, type: 'InvalidSignatureException' });
    const otherService = {
      ...good,
      headers: { ...good.headers, authorization: String(good.headers.authorization).replace('/lambda/', '/s3/') },
    };
    expect(await verifySigV4(otherService, secretOf)).toMatchObject({ ok: false, type: 'InvalidSignatureException' });
  });
});
