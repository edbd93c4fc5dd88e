// The Lambda API (docs/LAMBDA.md): AWS Lambda's HTTP routes under /2015-03-31, so that the AWS SDKs and CLI
// work against the daemon with --endpoint-url. A fastify plugin of its own: bodies are read as bytes (a SigV4
// signature covers them as sent), credentials are checked after the body is read (SigV4, or the daemon's bearer
// token), and errors answer in Lambda's shape, with prebake's own code in a header of their own.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { bearerToken, secretChecker } from '../bearer.ts';
import { PrebakeError, toPrebakeError } from '../errors.ts';
import type { Host } from '../host/host.ts';
import { lambdaShape } from './errors.ts';
import { functionRoutes } from './function-routes.ts';
import { type InvokeRouteOptions, invokeRoute } from './invoke-route.ts';
import { isSigV4, type SigV4Refusal, verifySigV4 } from './sigv4.ts';

export const LAMBDA_PREFIX = '/2015-03-31';
/** The access key id whose secret is the daemon's API token. */
export const DEFAULT_ACCESS_KEY_ID = 'prebake';

export interface LambdaApiOptions {
  host: Host;
  /** The daemon's API token: the bearer token, and the secret of the default access key. */
  token: string;
  /** Turns an error fastify or Node raised into a PrebakeError (the server's mapping). */
  toApiError: (error: unknown) => PrebakeError;
}

/** A refusal of the credentials, in AWS's words: 403 with its exception name. */
export class LambdaAuthError extends Error {
  readonly refusal: SigV4Refusal;

  constructor(refusal: SigV4Refusal) {
    super(refusal.message);
    this.refusal = refusal;
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The region the caller signed for (SigV4), else the daemon's. */
    lambdaRegion?: string;
  }
}

/** The Lambda routes, as a fastify plugin (registered with the prefix /2015-03-31). */
export async function lambdaApi(app: FastifyInstance, options: LambdaApiOptions & Pick<InvokeRouteOptions, 'eventDone'>): Promise<void> {
  lambdaContext(app, options);
  const functions = functionRoutes(app, options);
  invokeRoute(app, { ...options, functions });
}

/** Registers the content parser, the credentials check and the error handler of the Lambda routes' context. */
function lambdaContext(app: FastifyInstance, options: LambdaApiOptions): void {
  const { host, token } = options;
  const tokenMatches = secretChecker(token);
  const secrets = new Map<string, string>([[DEFAULT_ACCESS_KEY_ID, token]]);
  for (const key of host.config.lambda.keys) secrets.set(key.accessKeyId, key.secretAccessKey);

  app.decorateRequest('lambdaRegion', undefined);
  app.removeAllContentTypeParsers();
  // Each route sets its own body limit (an event's, a deployment package's).
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  app.addHook('preHandler', async (request) => {
    const headers = request.headers;
    if (isSigV4(headers)) {
      const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const verdict = await verifySigV4({ method: request.method, url: request.raw.url ?? request.url, headers, body }, (id) =>
        secrets.get(id),
      );
      if (!verdict.ok) throw new LambdaAuthError(verdict);
      request.lambdaRegion = verdict.region;
      return;
    }
    const given = bearerToken(headers.authorization);
    if (given !== undefined && tokenMatches(given)) return;
    throw new LambdaAuthError(
      headers.authorization === undefined
        ? { type: 'MissingAuthenticationTokenException', message: 'Missing Authentication Token' }
        : { type: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.' },
    );
  });

  app.setErrorHandler((thrown: unknown, request, reply) => sendLambdaError(request, reply, thrown, options.toApiError));
  app.setNotFoundHandler((request, reply) =>
    sendLambdaError(
      request,
      reply,
      new PrebakeError('PREBAKE_ERR_NOT_FOUND', `no Lambda route ${request.method} ${request.url.split('?')[0]}`, {
        details: { lambdaType: 'UnknownOperationException' },
      }),
      options.toApiError,
    ),
  );
}

/** Lambda's service error: its status, x-amzn-ErrorType and {"Type","message"}; prebake's code in x-prebake-error-code. */
export function sendLambdaError(
  request: FastifyRequest,
  reply: FastifyReply,
  thrown: unknown,
  toApiError: (error: unknown) => PrebakeError,
) {
  if (thrown instanceof LambdaAuthError) {
    request.log.info({ err: { type: thrown.refusal.type, message: thrown.message } }, 'Lambda request refused');
    return reply.code(403).header('x-amzn-errortype', thrown.refusal.type).send({ Type: 'User', message: thrown.message });
  }
  const error = toApiError(thrown) ?? toPrebakeError(thrown);
  const shape = lambdaShape(error);
  // A function error reaching here (outside Invoke, which answers those itself) is the service's failure.
  const { status, type } = shape.kind === 'service' ? shape : { status: 500, type: 'ServiceException' };
  const fields = { fn: error.functionName, err: { code: error.code, message: error.message } };
  if (status >= 500) request.log.warn(fields, 'Lambda request failed');
  else request.log.info(fields, 'Lambda request refused');
  if (error.code === 'PREBAKE_ERR_OVERLOADED') reply.header('retry-after', String(error.details?.retryAfterSec ?? 1));
  return reply
    .code(status)
    .header('x-amzn-errortype', type)
    .header('x-prebake-error-code', error.code)
    .send({ Type: status >= 500 ? 'Service' : 'User', message: error.hint ? `${error.message} (${error.hint})` : error.message });
}
