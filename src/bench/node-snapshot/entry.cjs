// The entry of `node --build-snapshot` for one Node function: what a Node user would do instead of CRIU, as a
// baseline for `prebake bench --modes node-snapshot`. It loads the function (its init) and runs its warm-up
// invocations; Node writes the V8 heap to the blob when this script's event loop is done. A later
// `node --snapshot-blob <blob> shim.mjs <dir> <handler>` starts from that heap: the deserialize callback below
// makes the shim's import of the handler module return the exports held in the snapshot.
//
// Node's snapshot builder cannot load user-land modules (its `require` knows only built-ins, and a module
// loader initialised here breaks deserialisation), so this script carries a small CommonJS loader of its own:
// the run-time equivalent of bundling the function into one script. ES modules cannot be loaded this way.
//
// Configuration comes from the environment: PREBAKE_SNAPSHOT_MODULE (absolute path of the handler's module),
// PREBAKE_SNAPSHOT_EXPORT, PREBAKE_SNAPSHOT_WARMUPS, PREBAKE_SNAPSHOT_WARMUP_EVENT (JSON).
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const v8 = require('node:v8');

const EXPORTS_KEY = Symbol.for('prebake.nodeSnapshot.exports');
const builtinRequire = require;
const modulePath = process.env.PREBAKE_SNAPSHOT_MODULE;
const exportName = process.env.PREBAKE_SNAPSHOT_EXPORT;
const warmups = Number(process.env.PREBAKE_SNAPSHOT_WARMUPS ?? 0);
const warmupEvent = JSON.parse(process.env.PREBAKE_SNAPSHOT_WARMUP_EVENT ?? '{}');

const cache = new Map();

function isFile(file) {
  return fs.statSync(file, { throwIfNoEntry: false })?.isFile() === true;
}

function isDirectory(dir) {
  return fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory() === true;
}

function readPackage(dir) {
  const file = path.join(dir, 'package.json');
  return isFile(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : undefined;
}

// "exports" as far as a CommonJS consumer sees it: a string, or the require/node/default condition.
function exportsTarget(entry) {
  if (typeof entry === 'string') return entry;
  if (Array.isArray(entry)) return entry.map(exportsTarget).find(Boolean);
  if (entry && typeof entry === 'object') {
    for (const condition of ['require', 'node', 'default']) {
      const target = exportsTarget(entry[condition]);
      if (target) return target;
    }
  }
  return undefined;
}

function resolveFile(base) {
  for (const candidate of [base, `${base}.js`, `${base}.json`, `${base}.cjs`]) if (isFile(candidate)) return candidate;
  if (isDirectory(base)) {
    const pkg = readPackage(base);
    if (typeof pkg?.main === 'string') {
      const main = resolveFile(path.resolve(base, pkg.main));
      if (main) return main;
    }
    for (const index of ['index.js', 'index.json', 'index.cjs']) if (isFile(path.join(base, index))) return path.join(base, index);
  }
  return undefined;
}

function resolvePackage(request, fromDir) {
  const parts = request.split('/');
  const nameLength = request.startsWith('@') ? 2 : 1;
  const name = parts.slice(0, nameLength).join('/');
  const subpath = parts.slice(nameLength).join('/');
  for (let dir = fromDir; ; dir = path.dirname(dir)) {
    const packageDir = path.join(dir, 'node_modules', name);
    if (isDirectory(packageDir)) {
      const pkg = readPackage(packageDir);
      const exported = pkg?.exports === undefined ? undefined
        : typeof pkg.exports === 'string' || Array.isArray(pkg.exports) || !Object.keys(pkg.exports).some((k) => k.startsWith('.'))
          ? (subpath === '' ? exportsTarget(pkg.exports) : undefined)
          : exportsTarget(pkg.exports[subpath === '' ? '.' : `./${subpath}`]);
      const found = exported ? resolveFile(path.resolve(packageDir, exported)) : resolveFile(path.join(packageDir, subpath));
      if (found) return found;
    }
    if (path.dirname(dir) === dir) return undefined;
  }
}

// The builder's own `require` loads built-ins only (and says MODULE_NOT_FOUND for anything else).
function tryBuiltin(request) {
  if (request.startsWith('.') || request.startsWith('/')) return { found: false };
  try {
    return { found: true, exports: builtinRequire(request) };
  } catch (error) {
    if (error?.code === 'MODULE_NOT_FOUND' && !request.startsWith('node:')) return { found: false };
    throw error;
  }
}

function resolveRequest(request, fromDir) {
  const file = request.startsWith('.') || request.startsWith('/') ? resolveFile(path.resolve(fromDir, request)) : resolvePackage(request, fromDir);
  if (!file) throw Object.assign(new Error(`Cannot find module '${request}' from ${fromDir}`), { code: 'MODULE_NOT_FOUND' });
  return file;
}

function load(request, fromDir) {
  if (request === 'prebake/runtime') {
    throw new Error('node-snapshot mode does not support prebake/runtime hooks: a V8 startup snapshot has no restore step to run them in');
  }
  const builtin = tryBuiltin(request);
  return builtin.found ? builtin.exports : loadFile(resolveRequest(request, fromDir));
}

function loadFile(file) {
  const cached = cache.get(file);
  if (cached) return cached.exports;
  const module = { exports: {}, filename: file, id: file, loaded: false };
  cache.set(file, module);
  const source = fs.readFileSync(file, 'utf8');
  if (file.endsWith('.json')) {
    module.exports = JSON.parse(source);
  } else {
    const dir = path.dirname(file);
    const moduleRequire = (request) => load(request, dir);
    moduleRequire.resolve = (request) => (tryBuiltin(request).found ? request : resolveRequest(request, dir));
    moduleRequire.cache = {};
    // Strip a shebang; wrap like Node's CommonJS loader does.
    const body = source.startsWith('#!') ? `//${source}` : source;
    const wrapper = new Function('exports', 'require', 'module', '__filename', '__dirname', `${body}\n//# sourceURL=${file}`);
    wrapper.call(module.exports, module.exports, moduleRequire, module, file, dir);
  }
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
const functionExports = loadFile(modulePath);
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

// At start-up from the blob: answer the shim's import of the handler module with the exports in the heap.
const moduleUrl = `file://${modulePath.split('/').map(encodeURIComponent).join('/')}`;
v8.startupSnapshot.addDeserializeCallback(() => {
  builtinRequire('node:module').registerHooks({
    load(url, context, nextLoad) {
      if (url !== moduleUrl) return nextLoad(url, context);
      return { format: 'module', source: 'export default globalThis[Symbol.for("prebake.nodeSnapshot.exports")];', shortCircuit: true };
    },
  });
});
