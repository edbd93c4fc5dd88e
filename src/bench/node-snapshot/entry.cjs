// The entry of `node --build-snapshot` for one Node function: what a Node user would do instead of CRIU, as a
// baseline for `prebake bench --modes node-snapshot`. It loads the function (its init) and runs its warm-up
// invocations; Node writes the V8 heap to the blob when this script's event loop is done. A later
// `node --snapshot-blob <blob> shim.mjs <dir> <handler>` starts from that heap: the deserialize callback below
// makes the shim's import of the handler module return the exports held in the snapshot.
//
// Node's snapshot builder cannot load user-land modules (its `require` knows only built-ins, and a module
// loader initialised here breaks deserialisation), so the function comes in as one CommonJS script that
// esbuild bundled beforehand (snapshot.ts), as Node's documentation recommends for --build-snapshot. ES modules
// bundle too, as long as they have no top-level await.
//
// Configuration comes from the environment: PREBAKE_SNAPSHOT_BUNDLE (the bundled script), PREBAKE_SNAPSHOT_MODULE
// (absolute path of the handler's module on the host), PREBAKE_SNAPSHOT_VIEW_MODULE (its path inside an
// instance's view, as the shim will import it), PREBAKE_SNAPSHOT_EXPORT,
// PREBAKE_SNAPSHOT_WARMUPS, PREBAKE_SNAPSHOT_WARMUP_EVENT (JSON).
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const v8 = require('node:v8');

const EXPORTS_KEY = Symbol.for('prebake.nodeSnapshot.exports');
const builtinRequire = require;
const bundlePath = process.env.PREBAKE_SNAPSHOT_BUNDLE;
const modulePath = process.env.PREBAKE_SNAPSHOT_MODULE;
const exportName = process.env.PREBAKE_SNAPSHOT_EXPORT;
const warmups = Number(process.env.PREBAKE_SNAPSHOT_WARMUPS ?? 0);
const warmupEvent = JSON.parse(process.env.PREBAKE_SNAPSHOT_WARMUP_EVENT ?? '{}');

// What the bundle still requires at run time: built-ins only (esbuild inlined everything else).
function bundleRequire(request) {
  if (request === 'prebake/runtime') {
    throw new Error('node-snapshot mode does not support prebake/runtime hooks: a V8 startup snapshot has no restore step to run them in');
  }
  return builtinRequire(request);
}

// Runs the bundle as Node's CommonJS loader would run the handler's module: same exports, same __dirname.
function loadBundle() {
  const module = { exports: {}, filename: modulePath, id: modulePath, loaded: false };
  const source = fs.readFileSync(bundlePath, 'utf8');
  const wrapper = new Function('exports', 'require', 'module', '__filename', '__dirname', `${source}\n//# sourceURL=${modulePath}`);
  wrapper.call(module.exports, module.exports, bundleRequire, module, modulePath, path.dirname(modulePath));
  module.loaded = true;
  return module.exports;
}

function fakeContext(id) {
  return {
    requestId: id,
    awsRequestId: id,
    functionName: process.env.PREBAKE_FUNCTION_NAME,
    memoryLimitInMB: Number(process.env.PREBAKE_MEMORY_MB ?? 0),
    getRemainingTimeInMillis: () => Number(process.env.PREBAKE_TIMEOUT_MS ?? 0),
    callbackWaitsForEmptyEventLoop: false,
  };
}

function callHandler(handler, event, context) {
  if (handler.length >= 3) {
    return new Promise((resolve, reject) => {
      const returned = handler(event, context, (error, result) => (error ? reject(error) : resolve(result)));
      if (returned && typeof returned.then === 'function') returned.then(resolve, reject);
    });
  }
  return handler(event, context);
}

const initStart = performance.now();
const functionExports = loadBundle();
const handler = functionExports[exportName];
if (typeof handler !== 'function') throw new TypeError(`${modulePath} does not export a function "${exportName}"`);
globalThis[EXPORTS_KEY] = functionExports;
process.stderr.write(`node-snapshot: init done in ${(performance.now() - initStart).toFixed(1)} ms\n`);

(async () => {
  for (let i = 1; i <= warmups; i++) await callHandler(handler, warmupEvent, fakeContext(`warmup-${i}`));
  if (warmups > 0) process.stderr.write(`node-snapshot: ${warmups} warm-up invocation(s) done\n`);
})().catch((error) => {
  process.stderr.write(`node-snapshot: warm-up failed: ${error?.stack ?? error}\n`);
  process.exitCode = 1;
});

// At start-up from the blob: answer the shim's import of the handler module with the exports in the heap. The
// instance imports it by its path inside the sandbox's view (PREBAKE_SNAPSHOT_VIEW_MODULE, under /var/task).
const viewModulePath = process.env.PREBAKE_SNAPSHOT_VIEW_MODULE ?? modulePath;
const moduleUrl = `file://${viewModulePath.split('/').map(encodeURIComponent).join('/')}`;
v8.startupSnapshot.addDeserializeCallback(() => {
  builtinRequire('node:module').registerHooks({
    load(url, context, nextLoad) {
      if (url !== moduleUrl) return nextLoad(url, context);
      return { format: 'module', source: 'export default globalThis[Symbol.for("prebake.nodeSnapshot.exports")];', shortCircuit: true };
    },
  });
});
