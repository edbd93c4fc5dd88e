// The Node.js shim: loads a Lambda-style handler and serves the instance protocol (docs/PROTOCOL.md) on
// fds 3 (frames in) and 4 (frames out). Plain JavaScript on purpose: it is part of every cold start, so it
// loads only a few built-in modules up front.
//
//   node shim.mjs <function dir> <handler>        handler = "<file without extension>.<export>"
import fs from 'node:fs';
import { registerHooks } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { hooks } from './hooks.mjs';
import { closeUndiciSockets, trackUndiciSockets } from './undici-sockets.mjs';

const CONTROL_IN = 3;
const CONTROL_OUT = 4;
const MAX_HEADER_BYTES = 64 * 1024;
const MAX_BODY_BYTES = 64 * 1024 * 1024;
const EMPTY = Buffer.alloc(0);

const [functionDir, handlerSpec] = process.argv.slice(2);
const RUNTIME_API_URL = new URL('./runtime.mjs', import.meta.url).href;

// Functions import the hooks API as 'prebake/runtime' without installing anything.
registerHooks({
  resolve(specifier, context, nextResolve) {
    if (specifier === 'prebake/runtime') return { url: RUNTIME_API_URL, format: 'module', shortCircuit: true };
    return nextResolve(specifier, context);
  },
});
trackUndiciSockets();
const functionName = process.env.PREBAKE_FUNCTION_NAME ?? path.basename(functionDir ?? '');
const memoryMb = Number(process.env.PREBAKE_MEMORY_MB ?? 0);

// Whole frames with blocking writes: fd 4 is never handed to libuv, so a write finishes before the next
// statement (even before a process.exit in the function) and frames never interleave.
function send(header, body = EMPTY) {
  const head = Buffer.from(JSON.stringify(header), 'utf8');
  const frame = Buffer.allocUnsafe(8 + head.length + body.length);
  frame.writeUInt32BE(head.length, 0);
  head.copy(frame, 4);
  frame.writeUInt32BE(body.length, 4 + head.length);
  body.copy(frame, 8 + head.length);
  for (let offset = 0; offset < frame.length; ) offset += fs.writeSync(CONTROL_OUT, frame, offset);
}

const SHIM_FILE = new URL(import.meta.url).pathname;

// The function's error as it would see it: the shim's own frames are noise in its stack.
function describeError(error) {
  if (error instanceof Error) {
    const stack = error.stack
      ?.split('\n')
      .filter((line) => !line.includes(SHIM_FILE))
      .join('\n');
    return { type: error.name || error.constructor?.name || 'Error', message: error.message, stack };
  }
  return { type: typeof error, message: String(error) };
}

// The controller broke the protocol: the stream cannot be trusted, so stop (as the other shims do).
function protocolError(message) {
  process.stderr.write(`prebake: protocol error: ${message}\n`);
  process.exit(2);
}

async function loadHandler() {
  const dot = handlerSpec.lastIndexOf('.');
  const file = handlerSpec.slice(0, dot);
  const exportName = handlerSpec.slice(dot + 1);
  const base = path.resolve(functionDir, file);
  const candidates = ['.js', '.mjs', '.cjs', ''].map((ext) => base + ext);
  const modulePath = candidates.find((candidate) => fs.statSync(candidate, { throwIfNoEntry: false })?.isFile());
  if (!modulePath) {
    throw new Error(
      `handler module not found: tried ${candidates
        .slice(0, 3)
        .map((c) => path.relative(functionDir, c))
        .join(', ')}`,
    );
  }
  const mod = await import(pathToFileURL(modulePath).href);
  const handler = mod[exportName] ?? mod.default?.[exportName];
  if (typeof handler !== 'function') {
    throw new TypeError(`${path.relative(functionDir, modulePath)} does not export a function "${exportName}"`);
  }
  return handler;
}

// Lambda's context (the Node.js runtime's field names); the controller fills the fields (docs/PROTOCOL.md).
function makeContext(header) {
  const deadline = Number(header.deadline);
  return {
    requestId: header.id,
    awsRequestId: header.id,
    functionName,
    functionVersion: header.version ?? '$LATEST',
    invokedFunctionArn: header.arn,
    memoryLimitInMB: memoryMb,
    logGroupName: header.logGroup,
    logStreamName: header.logStream,
    clientContext: parseOptional(header.clientContext),
    identity: parseOptional(header.identity),
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    callbackWaitsForEmptyEventLoop: false,
  };
}

// The controller sends the caller's client context and identity as JSON text; it has checked them.
function parseOptional(text) {
  return typeof text === 'string' ? JSON.parse(text) : undefined;
}

// Lambda handlers come in two shapes: async (event, context) and (event, context, callback).
function callHandler(handler, event, context) {
  if (handler.length >= 3) {
    return new Promise((resolve, reject) => {
      const callback = (error, result) => (error ? reject(error) : resolve(result));
      const returned = handler(event, context, callback);
      if (returned && typeof returned.then === 'function') returned.then(resolve, reject);
    });
  }
  return handler(event, context);
}

async function invoke(handler, header, body) {
  const id = header.id;
  let value;
  try {
    const event = body.length === 0 ? null : JSON.parse(body.toString('utf8'));
    value = await callHandler(handler, event, makeContext(header));
  } catch (error) {
    send({ type: 'result', id, ok: false, error: describeError(error) });
    return;
  }
  let result;
  try {
    result = encodeResult(value);
  } catch (error) {
    send({ type: 'result', id, ok: false, error: describeError(error) });
    return;
  }
  send({ type: 'result', id, ok: true }, result);
}

// The result as one JSON text the protocol can carry, or an error saying why it cannot be.
function encodeResult(value) {
  let text;
  try {
    text = JSON.stringify(value === undefined ? null : value);
  } catch (error) {
    throw new TypeError(`the result is not JSON-serialisable: ${error.message}`);
  }
  // JSON.stringify gives undefined (no text at all) for a function or a symbol.
  if (text === undefined) throw new TypeError(`the result is not JSON-serialisable: it is a ${typeof value}`);
  // A frame of over MAX_BODY_BYTES would be refused by the controller as a broken frame.
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_BODY_BYTES) {
    throw new RangeError(`the result is ${bytes} bytes of JSON, over the limit of ${MAX_BODY_BYTES}`);
  }
  return Buffer.from(text, 'utf8');
}

async function runHooks(phase) {
  try {
    for (const hook of hooks[phase]) await hook();
    return true;
  } catch (error) {
    send({ type: 'hook-error', phase, error: describeError(error) });
    return false;
  }
}

let reseeder;

async function handleFrame(handler, header, body) {
  switch (header.type) {
    case 'invoke':
      return invoke(handler, header, body);
    case 'checkpoint': {
      // Loaded and run once now rather than at start-up (cold starts never need it) or only at resume: the
      // snapshot then holds its compiled code, and each clone's reseed takes a fraction of a millisecond.
      reseeder = await import('./reseed.mjs');
      const { randomBytes } = await import('node:crypto');
      reseeder.reseedRandomness(randomBytes(32).toString('hex'));
      if (!(await runHooks('beforeCheckpoint'))) return;
      // After the hooks, which may still fetch (a last flush); what fetch kept open would fail the dump.
      await closeUndiciSockets();
      await (await import('./slim.mjs')).slimForSnapshot();
      send({ type: 'checkpoint-ready' });
      return;
    }
    case 'resume':
      if (typeof header.seed !== 'string' || !/^[0-9a-f]{64}$/i.test(header.seed)) {
        send({
          type: 'hook-error',
          phase: 'afterRestore',
          error: describeError(new TypeError('the resume frame has no "seed" of 64 hex characters')),
        });
        return;
      }
      reseeder ??= await import('./reseed.mjs');
      reseeder.reseedRandomness(header.seed);
      if (await runHooks('afterRestore')) send({ type: 'resumed' });
      return;
    default:
      protocolError(`a control frame of unknown type ${JSON.stringify(header.type)}`);
  }
}

// Frames are handled one at a time, in order: the controller sends the next only after the answer.
function serve(handler) {
  const input = new net.Socket({ fd: CONTROL_IN, readable: true, writable: false });
  let chunks = [];
  let buffered = 0;
  let needed = 4; // bytes before the next frame can be complete; saves re-joining a large body's chunks
  let queue = Promise.resolve();
  input.on('data', (chunk) => {
    chunks.push(chunk);
    buffered += chunk.length;
    while (buffered >= needed) {
      const data = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
      chunks = [data];
      const headLength = data.readUInt32BE(0);
      if (headLength > MAX_HEADER_BYTES) protocolError(`a frame header of ${headLength} bytes`);
      if (data.length < 8 + headLength) {
        needed = 8 + headLength;
        return;
      }
      const bodyLength = data.readUInt32BE(4 + headLength);
      if (bodyLength > MAX_BODY_BYTES) protocolError(`a frame body of ${bodyLength} bytes`);
      const end = 8 + headLength + bodyLength;
      if (data.length < end) {
        needed = end;
        return;
      }
      let header;
      try {
        header = JSON.parse(data.toString('utf8', 4, 4 + headLength));
      } catch {
        protocolError('a frame header that is not JSON');
      }
      if (typeof header !== 'object' || header === null || Array.isArray(header)) protocolError('a frame header that is not an object');
      const body = data.subarray(8 + headLength, end);
      const rest = data.subarray(end);
      chunks = rest.length > 0 ? [rest] : [];
      buffered = rest.length;
      needed = 4;
      queue = queue.then(() => handleFrame(handler, header, body));
    }
  });
  // The controller closed our input: nothing more will come.
  input.on('end', () => process.exit(0));
  input.on('error', () => process.exit(0));
}

const initStart = performance.now();
let handler;
try {
  handler = await loadHandler();
} catch (error) {
  send({ type: 'init-error', error: describeError(error) });
  process.exit(1);
}
send({ type: 'ready', runtime: 'node', initMs: performance.now() - initStart });
serve(handler);
