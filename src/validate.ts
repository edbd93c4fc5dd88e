// Validation against a TypeBox schema, said the one way every boundary says it: the field, then the problem.
import type { TSchema } from '@sinclair/typebox';
import type { TypeCheck } from '@sinclair/typebox/compiler';

/** `field "a.b": <problem>` for the first error of `value`, `<whole>: <problem>` at the top; undefined when valid. */
export function schemaProblem<T extends TSchema>(check: TypeCheck<T>, value: unknown, whole: string): string | undefined {
  const first = check.Errors(value).First();
  if (!first) return undefined;
  const field = first.path === '' ? whole : `field "${first.path.slice(1).replaceAll('/', '.')}"`;
  return `${field}: ${first.message}`;
}
