// What the AWS SDK threw for a Lambda call that failed: Lambda's exception name, the HTTP status, the message.
import { LambdaServiceException } from '@aws-sdk/client-lambda';
import { expect } from 'vitest';

export async function awsError(send: Promise<unknown>): Promise<{ name: string; status: number | undefined; message: string }> {
  const error = await send.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(LambdaServiceException);
  const aws = error as LambdaServiceException;
  return { name: aws.name, status: aws.$metadata.httpStatusCode, message: aws.message };
}
