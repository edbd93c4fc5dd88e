import { describe, expect, it } from 'vitest';
import { isPrebakeError } from '../../src/errors.ts';
import { lambdaConfig, manifestOf, prebakeName, runtimeOf } from '../../src/lambda/function-config.ts';

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(isPrebakeError(error) && error.code).toBe('PREBAKE_ERR_INVALID_INPUT');
    expect(isPrebakeError(error) && error.details).toEqual({ lambdaType: 'InvalidParameterValueException' });
    return (error as Error).message;
  }
  throw new Error('not refused');
}

describe("Lambda's function fields", () => {
  it('map to a manifest: runtime family, handler, memory, timeout in ms, environment', () => {
    const config = lambdaConfig({
      Runtime: 'python3.12',
      Handler: 'main.handler',
      MemorySize: 512,
      Timeout: 30,
      Environment: { Variables: { STAGE: 'test' } },
    });
    expect(manifestOf('hello', config)).toEqual({
      name: 'hello',
      runtime: 'python',
      handler: 'main.handler',
      memoryMb: 512,
      timeoutMs: 30_000,
      env: { STAGE: 'test' },
    });
    expect(lambdaConfig({ Runtime: 'nodejs22.x', Handler: 'index.handler' })).toMatchObject({
      memoryMb: 128,
      timeoutS: 3,
      environment: {},
    });
    expect(runtimeOf('java21')).toBe('java');
  });

  it('change only what an update names', () => {
    const created = lambdaConfig({
      Runtime: 'nodejs22.x',
      Handler: 'index.handler',
      MemorySize: 256,
      Environment: { Variables: { A: '1' } },
    });
    expect(lambdaConfig({ Timeout: 60 }, created)).toEqual({ ...created, timeoutS: 60 });
    expect(lambdaConfig({ Environment: {} }, created).environment).toEqual({});
  });

  it('are refused, naming the field, where prebake cannot take them', () => {
    expect(refusal(() => runtimeOf('provided.al2023'))).toMatch(/Runtime "provided.al2023" is not one prebake runs \(nodejs18\.x/);
    expect(refusal(() => runtimeOf('java8'))).toMatch(/java8/);
    expect(refusal(() => prebakeName('Hello_World'))).toMatch(/FunctionName "Hello_World".*lower-case/);
    expect(refusal(() => lambdaConfig({ Runtime: 'nodejs22.x', Handler: 'i.h', MemorySize: 64 }))).toMatch(
      /MemorySize must be an integer from 128 to 10240, not 64/,
    );
    expect(refusal(() => lambdaConfig({ Runtime: 'nodejs22.x', Handler: 'i.h', Timeout: 901 }))).toMatch(/Timeout .* 1 to 900, not 901/);
    expect(refusal(() => lambdaConfig({ Runtime: 'nodejs22.x' }))).toMatch(/^Handler must be/);
    expect(refusal(() => lambdaConfig({ Runtime: 'nodejs22.x', Handler: 'i.h', Environment: { Variables: { 'A-B': 'x' } } }))).toMatch(
      /"A-B"/,
    );
    expect(refusal(() => lambdaConfig({ Runtime: 'nodejs22.x', Handler: 'i.h', Environment: { Variables: { A: 1 } } }))).toMatch(
      /Variables\.A must be a string/,
    );
  });
});
