// The form of function.json's "handler", per runtime: part of the manifest's format, checked when it is loaded
// (load.ts); each runtime's adapter answers with the same rule (RuntimeAdapter.checkHandler).
import type { RuntimeName } from './schema.ts';

const JAVA_IDENTIFIER = '[A-Za-z_$][A-Za-z0-9_$]*';
const PYTHON_IDENTIFIER = '[A-Za-z_][A-Za-z0-9_]*';
const PYTHON_HANDLER = new RegExp(`^${PYTHON_IDENTIFIER}(\\.${PYTHON_IDENTIFIER})+$`);
const JAVA_HANDLER = new RegExp(`^${JAVA_IDENTIFIER}(\\.${JAVA_IDENTIFIER})*::${JAVA_IDENTIFIER}$`);

const FORMS: Record<RuntimeName, { test: (handler: string) => boolean; expected: string }> = {
  node: {
    test: (handler) => /^[\w./-]+\.[A-Za-z_$][\w$]*$/.test(handler) && !handler.includes('..'),
    expected: 'expected "<file without extension>.<export>", for example "index.handler"',
  },
  python: {
    test: (handler) => PYTHON_HANDLER.test(handler),
    expected: 'expected "<module>.<function>", for example "main.handler" (a module in a package: "pkg.mod.handler")',
  },
  java: {
    test: (handler) => JAVA_HANDLER.test(handler),
    expected: 'expected "<class>::<method>", for example "Hello::handleRequest" (a class in a package: "com.example.Hello::handle")',
  },
};

/** What is wrong with `handler` for `runtime`, or undefined when it has the runtime's form. */
export function handlerProblem(runtime: RuntimeName, handler: string): string | undefined {
  const form = FORMS[runtime];
  return form.test(handler) ? undefined : form.expected;
}
