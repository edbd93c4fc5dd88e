// The Lambda API as the AWS CLI v2 (Debian's awscli, /usr/bin/aws) drives it: create-function from a zip, the
// CLI's own waiter, invoke, delete-function, against a real daemon with --endpoint-url.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import yazl from 'yazl';
import { makeSandbox, type Sandbox } from '../helpers.ts';
import { closeAndClean, startServer, type TestServer } from '../server/harness.ts';

const AWS = '/usr/bin/aws';
let sandbox: Sandbox;
let server: TestServer;
let work: string;

beforeAll(async () => {
  sandbox = await makeSandbox();
  server = await startServer(sandbox);
  work = await mkdtemp(path.join(os.tmpdir(), 'prebake-awscli-'));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
  await closeAndClean(server, sandbox);
});

/** The CLI's environment: the default key (the token, unless `secret`), and nothing of ~/.aws. */
function awsEnv(secret = server.token): Record<string, string> {
  return {
    PATH: '/usr/bin:/bin',
    HOME: work,
    AWS_ACCESS_KEY_ID: 'prebake',
    AWS_SECRET_ACCESS_KEY: secret,
    AWS_DEFAULT_REGION: 'eu-central-1',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_PAGER: '',
  };
}

/** `aws lambda <args>` against the daemon. */
function aws(...args: string[]) {
  return execa(AWS, ['lambda', ...args, '--endpoint-url', server.url, '--output', 'json'], {
    reject: false,
    extendEnv: false,
    env: awsEnv(),
  });
}

async function zip(files: Record<string, string>): Promise<string> {
  const archive = new yazl.ZipFile();
  for (const [name, text] of Object.entries(files)) archive.addBuffer(Buffer.from(text), name);
  archive.end();
  const chunks: Buffer[] = [];
  for await (const chunk of archive.outputStream) chunks.push(chunk as Buffer);
  const file = path.join(work, 'function.zip');
  await writeFile(file, Buffer.concat(chunks));
  return file;
}

describe('the AWS CLI', { timeout: 180_000 }, () => {
  it('creates, waits for, invokes and deletes a function', async () => {
    const file = await zip({
      'app.py': 'def handler(event, context):\n    return {"hi": event["name"], "arn": context.invoked_function_arn}\n',
    });
    const created = await aws(
      'create-function',
      '--function-name',
      'cli-python',
      '--runtime',
      'python3.11',
      '--handler',
      'app.handler',
      '--role',
      'arn:aws:iam::000000000000:role/ignored',
      '--zip-file',
      `fileb://${file}`,
    );
    expect(created.exitCode, created.stderr).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({ FunctionName: 'cli-python', State: 'Pending', Runtime: 'python3.11' });
    const waited = await aws('wait', 'function-active-v2', '--function-name', 'cli-python');
    expect(waited.exitCode, waited.stderr).toBe(0);

    const out = path.join(work, 'out.json');
    const invoked = await aws(
      'invoke',
      '--function-name',
      'cli-python',
      '--cli-binary-format',
      'raw-in-base64-out',
      '--payload',
      '{"name":"cli"}',
      '--log-type',
      'Tail',
      out,
    );
    expect(invoked.exitCode, invoked.stderr).toBe(0);
    const answer = JSON.parse(invoked.stdout) as { StatusCode: number; ExecutedVersion: string; LogResult: string };
    expect(answer).toMatchObject({ StatusCode: 200, ExecutedVersion: '$LATEST' });
    expect(Buffer.from(answer.LogResult, 'base64').toString()).toContain('START RequestId:');
    expect(JSON.parse(await readFile(out, 'utf8'))).toEqual({
      hi: 'cli',
      arn: 'arn:aws:lambda:eu-central-1:000000000000:function:cli-python',
    });

    expect((await aws('delete-function', '--function-name', 'cli-python')).exitCode).toBe(0);
    const gone = await aws('get-function', '--function-name', 'cli-python');
    expect(gone.exitCode).not.toBe(0);
    expect(gone.stderr).toMatch(/ResourceNotFoundException/);
  });

  it('fails with the signature error when the secret is wrong', async () => {
    const wrong = await execa(AWS, ['lambda', 'list-functions', '--endpoint-url', server.url], {
      reject: false,
      extendEnv: false,
      env: awsEnv('not-the-token-at-all'),
    });
    expect(wrong.exitCode).not.toBe(0);
    expect(wrong.stderr).toMatch(/InvalidSignatureException/);
  });
});
