// What the Lambda API costs over prebake's own route: end-to-end latency of an AWS SDK invoke
// (@aws-sdk/client-lambda, SigV4-signed, POST /2015-03-31/functions/<name>/invocations) against a plain
// POST /functions/<name>/invoke with the bearer token, both over a kept-alive loopback connection to one
// `prebake serve`, taken in turns (SDK, own, SDK, own...) so that load affects both alike. Per start mode
// (a daemon per mode, the functions' startMode set in its config) and per function.
//
//   node scripts/lambda-latency.ts [--functions hello-node,heavy-python] [--modes prebaked,pooled] [--runs 40]
//                                  [--warmup 5] [--pause-ms 600]
//
// Only ever talks to 127.0.0.1. Runs as root, like prebake. Its home is a temp dir, removed at the end.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { summarize } from '../src/bench/stats.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const LOOPBACK = '127.0.0.1';
const TOKEN = randomBytes(32).toString('hex');

const { values: args } = parseArgs({
  options: {
    functions: { type: 'string', default: 'hello-node,heavy-python' },
    modes: { type: 'string', default: 'prebaked,pooled' },
    runs: { type: 'string', default: '40' },
    warmup: { type: 'string', default: '5' },
    'pause-ms': { type: 'string', default: '600' },
  },
});
const functions = args.functions.split(',');
const runs = Number(args.runs);
const warmup = Number(args.warmup);
// Between invocations, so that a pooled function's pool is full again (a refill on this VM takes 100 to 300 ms) and
// each invocation meets the same state whichever route it came by.
const pauseMs = Number(args['pause-ms']);
const pause = () => new Promise((resolve) => setTimeout(resolve, pauseMs));

async function startDaemon(home: string, config: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const child = spawn(path.join(ROOT, 'bin', 'prebake'), ['serve', '--host', LOOPBACK, '--port', '0', '--home', home, '--config', config], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, PREBAKE_API_TOKEN: TOKEN },
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const lines = readline.createInterface({ input: child.stdout! });
  return new Promise((resolve, reject) => {
    lines.on('line', (line) => {
      if (!line.includes('prebake daemon listening')) return;
      const url = (JSON.parse(line) as { url: string }).url;
      resolve({
        url,
        stop: () => {
          child.kill('SIGTERM');
          return exited;
        },
      });
    });
    void exited.then(() => reject(new Error('the daemon exited before listening')));
  });
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function post(url: string, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      { method: 'POST', agent, headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

async function timed(run: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await run();
  return performance.now() - started;
}

const fmt = (ms: number) => ms.toFixed(2);

for (const mode of args.modes.split(',')) {
  const home = await mkdtemp(path.join(os.tmpdir(), 'prebake-lambda-latency-'));
  // Instances run as an unprivileged user, who must get through the home to their view's root.
  await chmod(home, 0o711);
  const config = path.join(home, 'config.json');
  await writeFile(config, JSON.stringify({ functions: Object.fromEntries(functions.map((name) => [name, { startMode: mode }])) }));
  const daemon = await startDaemon(home, config);
  const lambda = new LambdaClient({
    endpoint: daemon.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'prebake', secretAccessKey: TOKEN },
    maxAttempts: 1,
  });
  try {
    for (const name of functions) {
      const registered = await post(`${daemon.url}/functions`, JSON.stringify({ path: path.join(ROOT, 'functions', name) }));
      if (registered.status !== 201) throw new Error(`registering ${name}: ${registered.status} ${registered.body}`);
      const event = JSON.stringify({ name: 'bench' });
      const viaSdk = async () => {
        const output = await lambda.send(new InvokeCommand({ FunctionName: name, Payload: Buffer.from(event) }));
        if (output.FunctionError) throw new Error(`${name}: ${Buffer.from(output.Payload ?? []).toString()}`);
      };
      const viaOwn = async () => {
        const answer = await post(`${daemon.url}/functions/${name}/invoke`, event);
        if (answer.status !== 200) throw new Error(`${name}: ${answer.status} ${answer.body}`);
      };
      for (let i = 0; i < warmup; i++) {
        await viaSdk();
        await viaOwn();
      }
      const sdk: number[] = [];
      const own: number[] = [];
      for (let i = 0; i < runs; i++) {
        await pause();
        sdk.push(await timed(viaSdk));
        await pause();
        own.push(await timed(viaOwn));
      }
      const [s, o] = [summarize(sdk)!, summarize(own)!];
      console.log(
        `${name} ${mode}: SDK invoke p50 ${fmt(s.p50)} ms (p95 ${fmt(s.p95)}), own route p50 ${fmt(o.p50)} ms (p95 ${fmt(o.p95)}); ` +
          `difference p50 ${fmt(s.p50 - o.p50)} ms over ${runs} runs each, taken in turns ${pauseMs} ms apart`,
      );
    }
  } finally {
    lambda.destroy();
    await daemon.stop();
    await rm(home, { recursive: true, force: true });
  }
}
console.log(
  `machine: ${os.cpus()[0]?.model}, ${os.availableParallelism()} CPUs, load ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
agent.destroy();
