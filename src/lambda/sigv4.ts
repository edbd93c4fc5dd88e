// Checks an AWS Signature Version 4 request, the way the AWS SDKs and CLI sign Lambda calls. The signing
// algorithm is the SDK's own (@smithy/signature-v4): verifying is signing the received request again with the
// secret of the access key it names, over exactly the headers it says it signed, and comparing the two
// signatures in constant time. Only what the library cannot know is checked here: the clock skew, the scope,
// and a declared payload hash against the body.
import { createHash, timingSafeEqual } from 'node:crypto';
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';

/** How far x-amz-date may be from the daemon's clock, as AWS allows. */
export const MAX_SKEW_MS = 15 * 60 * 1000;
const ALGORITHM = 'AWS4-HMAC-SHA256';
const SERVICE = 'lambda';

export interface ReceivedRequest {
  method: string;
  /** The request target as received: path and query, still percent-encoded. */
  url: string;
  /** Header names in lower case, as Node gives them. */
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** The AWS error type and message a refused request answers with (403). */
export interface SigV4Refusal {
  type:
    | 'MissingAuthenticationTokenException'
    | 'UnrecognizedClientException'
    | 'InvalidSignatureException'
    | 'IncompleteSignatureException';
  message: string;
}

export type SigV4Verdict = { ok: true; accessKeyId: string; region: string } | ({ ok: false } & SigV4Refusal);

interface Authorization {
  accessKeyId: string;
  shortDate: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

const refuse = (type: SigV4Refusal['type'], message: string): SigV4Verdict => ({ ok: false, type, message });

/** Whether the request carries a SigV4 Authorization header (else another scheme, or none, applies). */
export function isSigV4(headers: ReceivedRequest['headers']): boolean {
  return headerValue(headers, 'authorization')?.startsWith(`${ALGORITHM} `) ?? false;
}

/**
 * Verifies `request`'s signature with the secret `secretOf` gives for its access key id (undefined: no such key).
 * `now` is the daemon's clock, in ms.
 */
export async function verifySigV4(
  request: ReceivedRequest,
  secretOf: (accessKeyId: string) => string | undefined,
  now: number = Date.now(),
): Promise<SigV4Verdict> {
  const header = headerValue(request.headers, 'authorization');
  if (header === undefined) return refuse('MissingAuthenticationTokenException', 'Missing Authentication Token');
  const auth = parseAuthorization(header);
  if (typeof auth === 'string') return refuse('IncompleteSignatureException', auth);
  const secret = secretOf(auth.accessKeyId);
  if (secret === undefined) return refuse('UnrecognizedClientException', 'The security token included in the request is invalid.');
  if (auth.service !== SERVICE) {
    return refuse('InvalidSignatureException', `Credential should be scoped to correct service: '${SERVICE}'.`);
  }
  if (!auth.signedHeaders.includes('host')) {
    return refuse('InvalidSignatureException', "'Host' must be a 'SignedHeader' in the AWS Authorization.");
  }
  const amzDate = headerValue(request.headers, 'x-amz-date');
  const signingDate = amzDate === undefined ? undefined : parseAmzDate(amzDate);
  if (signingDate === undefined)
    return refuse('IncompleteSignatureException', 'The request has no valid X-Amz-Date header (YYYYMMDDTHHMMSSZ).');
  if (!auth.signedHeaders.includes('x-amz-date')) {
    return refuse('InvalidSignatureException', "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.");
  }
  if (Math.abs(now - signingDate.getTime()) > MAX_SKEW_MS) {
    return refuse(
      'InvalidSignatureException',
      `Signature expired: ${amzDate} is not within 15 minutes of the server's time ${formatAmzDate(new Date(now))}.`,
    );
  }
  if (amzDate!.slice(0, 8) !== auth.shortDate) {
    return refuse('InvalidSignatureException', `Credential should be scoped to a valid date: '${amzDate!.slice(0, 8)}'.`);
  }
  // An x-amz-* header steers the call (X-Amz-Invocation-Type, X-Amz-Log-Type...): one added on the way, unsigned,
  // would change what a signed request does. The SDKs and the CLI sign every one they send.
  const unsigned = Object.keys(request.headers).filter((name) => name.startsWith('x-amz-') && !auth.signedHeaders.includes(name));
  if (unsigned.length > 0) {
    return refuse('InvalidSignatureException', `There were headers present in the request which were not signed: ${unsigned.join(', ')}.`);
  }
  const declaredHash = headerValue(request.headers, 'x-amz-content-sha256');
  if (declaredHash !== undefined && declaredHash !== createHash('sha256').update(request.body).digest('hex')) {
    return refuse('InvalidSignatureException', 'The provided x-amz-content-sha256 header does not match what was computed.');
  }

  const signed = await new SignatureV4({
    credentials: { accessKeyId: auth.accessKeyId, secretAccessKey: secret },
    region: auth.region,
    service: SERVICE,
    sha256: Hash.bind(null, 'sha256'),
    applyChecksum: false,
  }).sign(toHttpRequest(request, auth.signedHeaders), {
    signingDate,
    signingRegion: auth.region,
    signingService: SERVICE,
    signableHeaders: new Set(auth.signedHeaders),
  });
  const expected = parseAuthorization(String(signed.headers.authorization));
  if (typeof expected === 'string' || !sameHex(expected.signature, auth.signature)) {
    return refuse(
      'InvalidSignatureException',
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
    );
  }
  return { ok: true, accessKeyId: auth.accessKeyId, region: auth.region };
}

/** `AWS4-HMAC-SHA256 Credential=ID/DATE/REGION/SERVICE/aws4_request, SignedHeaders=a;b, Signature=hex`, or why not. */
function parseAuthorization(header: string): Authorization | string {
  if (!header.startsWith(`${ALGORITHM} `)) return `Only ${ALGORITHM} is supported.`;
  const fields = new Map<string, string>();
  for (const part of header.slice(ALGORITHM.length + 1).split(',')) {
    const at = part.indexOf('=');
    if (at > 0) fields.set(part.slice(0, at).trim(), part.slice(at + 1).trim());
  }
  const credential = fields.get('Credential')?.split('/');
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (credential?.length !== 5 || credential[4] !== 'aws4_request' || !signedHeaders || !signature) {
    return "Authorization header requires 'Credential' (ID/date/region/service/aws4_request), 'SignedHeaders' and 'Signature'.";
  }
  if (!/^[0-9a-f]{64}$/.test(signature)) return 'The Signature is not 64 lower-case hex digits.';
  const [accessKeyId, shortDate, region, service] = credential as [string, string, string, string];
  return { accessKeyId, shortDate, region, service, signedHeaders: signedHeaders.split(';'), signature };
}

/** The request again, with only the headers it signed (the library signs every header it is given). */
function toHttpRequest(request: ReceivedRequest, signedHeaders: string[]): HttpRequest {
  const url = new URL(request.url, 'http://placeholder');
  const query: Record<string, string | string[]> = {};
  for (const [key, value] of url.searchParams) {
    const seen = query[key];
    query[key] = seen === undefined ? value : [...(Array.isArray(seen) ? seen : [seen]), value];
  }
  const headers: Record<string, string> = {};
  for (const name of signedHeaders) {
    const value = headerValue(request.headers, name);
    if (value !== undefined) headers[name] = value;
  }
  // The raw path: the client signed the path it sent (the library escapes it once more, as the SDK's did).
  const rawPath = request.url.split('?')[0]!;
  return new HttpRequest({
    method: request.method,
    protocol: 'http:',
    hostname: headers.host ?? '',
    path: rawPath,
    query,
    headers,
    body: request.body,
  });
}

function headerValue(headers: ReceivedRequest['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

function parseAmzDate(text: string): Date | undefined {
  const match = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!match) return undefined;
  const [, y, mo, d, h, mi, s] = match.map(Number) as number[];
  const date = new Date(Date.UTC(y!, mo! - 1, d!, h!, mi!, s!));
  return Number.isNaN(date.getTime()) ? undefined : date;
}

function formatAmzDate(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

function sameHex(a: string, b: string): boolean {
  const left = Buffer.from(a, 'hex');
  const right = Buffer.from(b, 'hex');
  return left.length === right.length && timingSafeEqual(left, right);
}
