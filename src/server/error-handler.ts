// Every error the HTTP API returns has one shape: { "error": { "code", "message", ... } }, with the status the
// code maps to in src/errors.ts. fastify's own errors (validation, body limits, content types) are mapped to
// prebake codes here, once.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PrebakeError, toPrebakeError, type ErrorCode } from '../errors.ts';

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'PREBAKE_ERR_PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'PREBAKE_ERR_UNSUPPORTED_MEDIA_TYPE',
};

/** The PrebakeError that stands for `error`, whatever threw it. */
export function toApiError(error: unknown): PrebakeError {
  if (error instanceof PrebakeError) return error;
  const fastifyError = error as Partial<FastifyError>;
  const mapped = fastifyError.code && FASTIFY_CODES[fastifyError.code];
  if (mapped) return new PrebakeError(mapped, fastifyError.message ?? mapped, { cause: error });
  if (fastifyError.validation) {
    return new PrebakeError('PREBAKE_ERR_INVALID_INPUT', `invalid request: ${fastifyError.message}`, { cause: error });
  }
  // fastify's other client errors: an unparsable JSON body, a bad content length.
  if (fastifyError.statusCode !== undefined && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    return new PrebakeError('PREBAKE_ERR_INVALID_INPUT', `invalid request: ${fastifyError.message}`, { cause: error });
  }
  return toPrebakeError(error);
}

export function sendError(request: FastifyRequest, reply: FastifyReply, error: PrebakeError): FastifyReply {
  if (error.code === 'PREBAKE_ERR_OVERLOADED') reply.header('retry-after', String(error.details?.retryAfterSec ?? 1));
  return reply.code(error.httpStatus).send({ error: { ...error.toJSON(), requestId: request.id } });
}

export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((thrown: unknown, request, reply) => {
    const error = toApiError(thrown);
    const fields = { fn: error.functionName, err: { code: error.code, message: error.message, details: error.details } };
    if (error.code === 'PREBAKE_ERR_INTERNAL') request.log.error({ ...fields, cause: error.cause }, 'request failed: a bug in prebake');
    else if (error.httpStatus >= 500) request.log.warn(fields, 'request failed');
    else request.log.info(fields, 'request refused');
    return sendError(request, reply, error);
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(request, reply, new PrebakeError('PREBAKE_ERR_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`, {
      hint: 'see docs/DAEMON.md for the API',
    })),
  );
}
