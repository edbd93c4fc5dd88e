// What Lambda's `context` carries beyond the request id and the deadline, filled in by the controller (one place
// for the defaults) and sent in the invoke frame's flat header; each shim hands it to the handler in its
// language's shape (docs/PROTOCOL.md).
import { randomBytes } from 'node:crypto';

export interface LambdaContextFields {
  /** `$LATEST`: prebake runs the function's current build. */
  functionVersion: string;
  invokedFunctionArn: string;
  logGroupName: string;
  logStreamName: string;
  /** The caller's client context (X-Amz-Client-Context, decoded), as JSON text. */
  clientContext?: string;
  /** The caller's Cognito identity, as JSON text ({"cognitoIdentityId","cognitoIdentityPoolId"}). */
  identity?: string;
}

/** The account part of the ARNs prebake makes: Lambda's own emulators use the same placeholder. */
export const LOCAL_ACCOUNT = '000000000000';

/** The region of the ARNs prebake makes when nobody named one: AWS_REGION, as Lambda's runtimes see it, else us-east-1. */
export function defaultRegion(): string {
  return process.env.AWS_REGION ?? 'us-east-1';
}

export function functionArn(functionName: string, region = defaultRegion()): string {
  return `arn:aws:lambda:${region}:${LOCAL_ACCOUNT}:function:${functionName}`;
}

/** A log stream per instance, named as Lambda names one per execution environment: `YYYY/MM/DD/[$LATEST]<32 hex>`. */
export function logStreamName(now = new Date()): string {
  const day = now.toISOString().slice(0, 10).replaceAll('-', '/');
  return `${day}/[$LATEST]${randomBytes(16).toString('hex')}`;
}

/** The fields for an invocation of `functionName` on the instance whose log stream is `stream`, `given` first. */
export function lambdaContextFields(functionName: string, stream: string, given: Partial<LambdaContextFields> = {}): LambdaContextFields {
  return {
    functionVersion: '$LATEST',
    invokedFunctionArn: functionArn(functionName),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: stream,
    ...given,
  };
}

/** The invoke frame's header fields for them (flat, as every control header is). */
export function lambdaHeader(fields: LambdaContextFields): Record<string, string> {
  const header: Record<string, string> = {
    version: fields.functionVersion,
    arn: fields.invokedFunctionArn,
    logGroup: fields.logGroupName,
    logStream: fields.logStreamName,
  };
  if (fields.clientContext !== undefined) header.clientContext = fields.clientContext;
  if (fields.identity !== undefined) header.identity = fields.identity;
  return header;
}
