import { describe, expect, it } from 'vitest';
import { PrebakeError } from '../../src/errors.ts';
import { functionErrorBody, lambdaShape } from '../../src/lambda/errors.ts';

describe("prebake's errors on the Lambda API", () => {
  it("are Lambda's service errors where the call failed", () => {
    expect(lambdaShape(new PrebakeError('PREBAKE_ERR_UNKNOWN_FUNCTION', 'no'))).toEqual({
      kind: 'service',
      status: 404,
      type: 'ResourceNotFoundException',
    });
    expect(lambdaShape(new PrebakeError('PREBAKE_ERR_OVERLOADED', 'busy'))).toEqual({
      kind: 'service',
      status: 429,
      type: 'TooManyRequestsException',
    });
    expect(lambdaShape(new PrebakeError('PREBAKE_ERR_PAYLOAD_TOO_LARGE', 'big'))).toMatchObject({
      status: 413,
      type: 'RequestTooLargeException',
    });
    expect(lambdaShape(new PrebakeError('PREBAKE_ERR_INVALID_EVENT', 'bad'))).toMatchObject({
      status: 400,
      type: 'InvalidRequestContentException',
    });
    expect(lambdaShape(new PrebakeError('PREBAKE_ERR_RESTORE_FAILED', 'criu'))).toMatchObject({ status: 502 });
    // Where the error was made knows Lambda's name better than the code's default.
    const named = new PrebakeError('PREBAKE_ERR_INVALID_INPUT', 'x', { details: { lambdaType: 'InvalidZipFileException' } });
    expect(lambdaShape(named)).toMatchObject({ status: 400, type: 'InvalidZipFileException' });
  });

  it("are function errors, with the function's own error where it threw one", () => {
    const thrown = new PrebakeError('PREBAKE_ERR_FUNCTION_ERROR', 'the handler threw', {
      functionError: { type: 'TypeError', message: 'bad input', stack: 'TypeError: bad input\n    at handler (/var/task/index.mjs:2:9)' },
    });
    const shape = lambdaShape(thrown);
    expect(shape).toEqual({ kind: 'function', errorType: 'Error' });
    expect(functionErrorBody(thrown, shape as { kind: 'function'; errorType: string })).toEqual({
      errorMessage: 'bad input',
      errorType: 'TypeError',
      stackTrace: ['TypeError: bad input', '    at handler (/var/task/index.mjs:2:9)'],
    });
    const timedOut = new PrebakeError('PREBAKE_ERR_TIMEOUT', 'the invocation did not finish within 3000 ms');
    const timeoutShape = lambdaShape(timedOut) as { kind: 'function'; errorType: string };
    expect(functionErrorBody(timedOut, timeoutShape)).toEqual({
      errorMessage: 'the invocation did not finish within 3000 ms',
      errorType: 'Sandbox.Timedout',
      stackTrace: [],
    });
  });
});
