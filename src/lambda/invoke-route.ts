// Lambda's Invoke: POST /2015-03-31/functions/{FunctionName}/invocations, with its three invocation types
// (RequestResponse, Event, DryRun), tail logs, the client context, and Lambda's shape for a function's error.
// Every invocation goes through Host.invoke, as prebake's own route does: a fresh prebaked instance unless the
// function's start mode says otherwise.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isPrebakeError, PrebakeError } from '../errors.ts';
import { type Host, type InvocationResult, outcomeOf } from '../host/host.ts';
import { functionArn } from '../instance/lambda-context.ts';
import { checkEvent } from '../invoke/event.ts';
import { functionErrorBody, lambdaShape } from './errors.ts';
import { type EventJob, EventQueue } from './event-queue.ts';
import type { LambdaFunctions } from './functions.ts';
import { type FunctionRef, parseFunctionRef } from './names.ts';

/** The path Lambda's Runtime Interface Emulator serves: it invokes the one function there is. */
export const RIE_FUNCTION_NAME = 'function';
/** How much of an invocation's log X-Amz-Log-Type: Tail returns, as Lambda does. */
export const TAIL_BYTES = 4 * 1024;
/** Lambda's limit on X-Amz-Client-Context, as base64. */
const MAX_CLIENT_CONTEXT_BYTES = 3583;
const INVOCATION_TYPES = ['RequestResponse', 'Event', 'DryRun'] as const;
type InvocationType = (typeof INVOCATION_TYPES)[number];

export interface InvokeRouteOptions {
  host: Host;
  /** The functions made over the Lambda API: one still building (or failed) answers as Lambda does. */
  functions?: LambdaFunctions;
  /** Told of each Event invocation's end (the server counts them in /metrics). */
  eventDone?: (functionName: string, outcome: string) => void;
}

function badRequest(message: string, lambdaType = 'InvalidRequestContentException'): PrebakeError {
  return new PrebakeError('PREBAKE_ERR_INVALID_INPUT', message, { details: { lambdaType } });
}

export function invokeRoute(app: FastifyInstance, { host, functions, eventDone }: InvokeRouteOptions): void {
  const events = new EventQueue({
    ...host.config.lambda.eventQueue,
    done: (job, error) => {
      const outcome = error === undefined ? 'ok' : outcomeOf(error);
      const fields = { fn: job.functionName, reqId: job.requestId, outcome };
      if (error === undefined) app.log.info(fields, 'Event invocation done');
      else app.log.warn({ ...fields, err: { message: (error as Error).message } }, 'Event invocation failed');
      eventDone?.(job.functionName, outcome);
    },
  });
  app.addHook('onClose', async () => {
    await events.drained();
  });

  app.post<{ Params: { name: string }; Querystring: { Qualifier?: string } }>(
    '/functions/:name/invocations',
    { config: { ownAuth: true }, bodyLimit: host.config.bodyLimitBytes },
    async (request, reply) => {
      const type = invocationType(request.headers['x-amz-invocation-type']);
      const ref = await resolveRef(host, parseFunctionRef(request.params.name, request.query.Qualifier));
      await functions?.assertInvokable(ref.name);
      const arn = ref.arn ?? functionArn(ref.name, request.lambdaRegion ?? host.config.lambda.region);
      const body = Buffer.isBuffer(request.body) && request.body.length > 0 ? request.body.toString('utf8') : '{}';
      const clientContext = decodeClientContext(request.headers['x-amz-client-context']);
      reply.header('x-amz-executed-version', '$LATEST');
      if (type === 'DryRun') {
        await host.assertRegistered(ref.name);
        return reply.code(204).send();
      }
      const invoke = (requestId: string, collectLogs: boolean) =>
        host.invoke({
          target: ref.name,
          event: body,
          requestId,
          log: request.log,
          collectLogs,
          lambda: { invokedFunctionArn: arn, ...(clientContext !== undefined && { clientContext }) },
        });
      if (type === 'Event') {
        await host.assertRegistered(ref.name);
        checkEvent(body, host.config.bodyLimitBytes);
        const job: EventJob = { functionName: ref.name, requestId: request.id, run: () => invoke(request.id, false) };
        events.push(job);
        return reply.code(202).header('x-amzn-requestid', request.id).send();
      }
      const tail = request.headers['x-amz-log-type'] === 'Tail';
      reply.header('x-amzn-requestid', request.id);
      try {
        const outcome = await invoke(request.id, tail);
        if (tail) reply.header('x-amz-log-result', logTail(request.id, outcome.logs ?? '', outcome));
        return reply
          .header('x-prebake-start', outcome.start)
          .header('x-prebake-start-ms', outcome.startMs.toFixed(2))
          .header('x-prebake-run-ms', outcome.runMs.toFixed(2))
          .type('application/json')
          .send(outcome.result);
      } catch (error) {
        return functionError(request, reply, error, tail);
      }
    },
  );
}

/** A function's own failure is Lambda's 200 with X-Amz-Function-Error; anything else goes to the error handler. */
function functionError(request: FastifyRequest, reply: FastifyReply, error: unknown, tail: boolean): FastifyReply {
  if (!isPrebakeError(error)) throw error;
  const shape = lambdaShape(error);
  if (shape.kind !== 'function') throw error;
  request.log.info({ fn: error.functionName, err: { code: error.code, message: error.message } }, 'the function failed');
  if (tail) reply.header('x-amz-log-result', logTail(request.id, error.logs ?? ''));
  return reply
    .header('x-amz-function-error', 'Unhandled')
    .header('x-prebake-error-code', error.code)
    .type('application/json')
    .send(JSON.stringify(functionErrorBody(error, shape)));
}

function invocationType(header: string | string[] | undefined): InvocationType {
  if (header === undefined) return 'RequestResponse';
  const type = INVOCATION_TYPES.find((known) => known === header);
  if (!type) {
    throw badRequest(
      `1 validation error detected: Value '${header}' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [${INVOCATION_TYPES.join(', ')}]`,
      'ValidationException',
    );
  }
  return type;
}

/** The RIE's `function` path invokes the only function there is; any other name is itself. */
async function resolveRef(host: Host, ref: FunctionRef): Promise<FunctionRef> {
  if (ref.name !== RIE_FUNCTION_NAME || (await host.store.get(RIE_FUNCTION_NAME))) return ref;
  const names = (await host.store.list()).map((meta) => meta.name);
  if (names.length === 1) return { name: names[0]! };
  if (names.length === 0) {
    throw new PrebakeError('PREBAKE_ERR_UNKNOWN_FUNCTION', 'Function not found: no function is registered', {
      details: { lambdaType: 'ResourceNotFoundException' },
    });
  }
  throw badRequest(`the path /functions/function/invocations invokes the only function, and there are ${names.length}: name one`);
}

/** X-Amz-Client-Context: base64 of a JSON object, handed to the function as JSON text. */
function decodeClientContext(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  const text = Array.isArray(header) ? header.join(',') : header;
  const invalid = () => badRequest('Client context must be a valid Base64-encoded JSON object.');
  if (text.length > MAX_CLIENT_CONTEXT_BYTES || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) throw invalid();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(text, 'base64').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw invalid();
  return JSON.stringify(parsed);
}

/** The last 4 KB of the invocation's log as Lambda writes it (START, the function's lines, END, REPORT), base64. */
function logTail(requestId: string, logs: string, outcome?: InvocationResult): string {
  const report = outcome
    ? `REPORT RequestId: ${requestId}\tDuration: ${outcome.runMs.toFixed(2)} ms\tRestore Duration: ${outcome.startMs.toFixed(2)} ms\tStart: ${outcome.start}\n`
    : `REPORT RequestId: ${requestId}\n`;
  const whole = Buffer.from(`START RequestId: ${requestId} Version: $LATEST\n${logs}END RequestId: ${requestId}\n${report}`);
  return whole.subarray(Math.max(0, whole.length - TAIL_BYTES)).toString('base64');
}
