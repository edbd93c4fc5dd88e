// The cost of checking a SigV4 signature (src/lambda/sigv4.ts) on one request: node scripts/sigv4-cost.ts

import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { verifySigV4 } from '../src/lambda/sigv4.ts';

const signer = new SignatureV4({
  credentials: { accessKeyId: 'prebake', secretAccessKey: 's3cret-s3cret-s3cret' },
  region: 'us-east-1',
  service: 'lambda',
  sha256: Hash.bind(null, 'sha256'),
});
const body = Buffer.from(JSON.stringify({ n: 1, text: 'x'.repeat(1000) }));
const req = await signer.sign(
  new HttpRequest({
    method: 'POST',
    protocol: 'http:',
    hostname: '127.0.0.1',
    path: '/2015-03-31/functions/hello-node/invocations',
    headers: { host: '127.0.0.1:3000', 'content-type': 'application/json', 'x-amz-invocation-type': 'RequestResponse' },
    body,
  }),
);
const received = {
  method: 'POST',
  url: '/2015-03-31/functions/hello-node/invocations',
  headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k.toLowerCase(), v])),
  body,
};
const secretOf = () => 's3cret-s3cret-s3cret';
for (let i = 0; i < 2000; i++) await verifySigV4(received, secretOf);
const times: number[] = [];
for (let i = 0; i < 5000; i++) {
  const t = process.hrtime.bigint();
  const v = await verifySigV4(received, secretOf);
  times.push(Number(process.hrtime.bigint() - t) / 1e3);
  if (!v.ok) throw new Error('bad');
}
times.sort((a, b) => a - b);
console.log(`verifySigV4: p50 ${times[2500]!.toFixed(1)} us, p99 ${times[4950]!.toFixed(1)} us over 5000`);
