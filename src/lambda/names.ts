// FunctionName as Lambda takes it: a name, `name:qualifier`, a full ARN or a partial one
// (`123456789012:function:name`), with `?Qualifier=` as another way to name the version. prebake runs one
// version of each function, its current build: `$LATEST`.
import { PrebakeError } from '../errors.ts';

export interface FunctionRef {
  name: string;
  /** The ARN the caller named, when it named one (the handler's invokedFunctionArn is then that). */
  arn?: string;
}

const ARN = /^arn:aws[a-z-]*:lambda:([a-z0-9-]+):(\d{12}):function:([^:]+)(?::([^:]+))?$/;
const PARTIAL_ARN = /^(\d{12}):function:([^:]+)(?::([^:]+))?$/;

/** The function `raw` names (its qualifier, if any, checked), or ResourceNotFoundException. */
export function parseFunctionRef(raw: string, queryQualifier?: string): FunctionRef {
  let name: string;
  let qualifier: string | undefined;
  let arn: string | undefined;
  const full = ARN.exec(raw);
  const partial = full ? undefined : PARTIAL_ARN.exec(raw);
  if (full) {
    [, , , name, qualifier] = full as unknown as [string, string, string, string, string | undefined];
    arn = raw;
  } else if (partial) {
    [, , name, qualifier] = partial as unknown as [string, string, string, string | undefined];
  } else {
    const at = raw.indexOf(':');
    name = at < 0 ? raw : raw.slice(0, at);
    qualifier = at < 0 ? undefined : raw.slice(at + 1);
  }
  for (const given of [qualifier, queryQualifier]) {
    if (given !== undefined && given !== '$LATEST') {
      throw new PrebakeError(
        'PREBAKE_ERR_UNKNOWN_FUNCTION',
        `Function not found: ${name}:${given} (prebake runs one version of a function, $LATEST)`,
        {
          functionName: name,
          details: { lambdaType: 'ResourceNotFoundException' },
        },
      );
    }
  }
  return arn ? { name, arn } : { name };
}
