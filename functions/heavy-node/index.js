// A function with a heavy init: it loads a large npm dependency (the TypeScript compiler, about 9 MB of
// JavaScript) and builds a lookup table, the kind of start-up that makes cold starts hurt.
const ts = require('typescript');

const initializedAt = new Date().toISOString();
const keywords = new Map();
for (let i = 0; i < 200_000; i++) keywords.set(`k${i}`, i);
let invocations = 0;

exports.handler = async (event, context) => {
  invocations += 1;
  const source = typeof event?.source === 'string' ? event.source : 'let x: number = 1;';
  const { outputText } = ts.transpileModule(source, { compilerOptions: { target: ts.ScriptTarget.ES2022 } });
  return {
    runtime: 'node',
    typescript: ts.version,
    javascript: outputText.trim(),
    requestId: context.requestId,
    initializedAt,
    tableSize: keywords.size,
    invocations,
  };
};
