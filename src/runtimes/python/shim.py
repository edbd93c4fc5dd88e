"""The Python shim: runs one function and speaks docs/PROTOCOL.md with the controller.

    python3 -u shim.py <function dir> <handler>

fd 3 brings control frames in, fd 4 takes them out; fds 1 and 2 are the function's own logs. The shim's
imports are part of every cold start, so it imports only what every instance needs: traceback only when
there is an error to report, and the random generators it reseeds only through sys.modules (a module the
function never imported needs no reseeding).
"""

import gc
import importlib
import json
import os
import sys
import time

CTL_IN = 3
CTL_OUT = 4
MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024
# Error texts are clipped until the header fits MAX_HEADER_BYTES; these are where clipping starts.
MESSAGE_CHARS = 8 * 1024
STACK_CHARS = 32 * 1024

SHIM_FILE = os.path.abspath(__file__)
SHIM_DIR = os.path.dirname(SHIM_FILE)


class ControllerGone(Exception):
    """fd 3 reached end of file: the controller wants the instance to exit."""


class Context:
    """The handler's second argument: Lambda's context object (the Python runtime's attribute names)."""

    __slots__ = ('aws_request_id', 'function_name', 'function_version', 'invoked_function_arn', 'memory_limit_in_mb',
                 'log_group_name', 'log_stream_name', 'client_context', 'identity', 'deadline_ms')

    def __init__(self, header, function_name, memory_limit_in_mb):
        deadline = header.get('deadline')
        self.aws_request_id = header.get('id')
        self.function_name = function_name
        self.function_version = header.get('version', '$LATEST')
        self.invoked_function_arn = header.get('arn')
        self.memory_limit_in_mb = memory_limit_in_mb
        self.log_group_name = header.get('logGroup')
        self.log_stream_name = header.get('logStream')
        self.client_context = _client_context(header.get('clientContext'))
        self.identity = _identity(header.get('identity'))
        self.deadline_ms = deadline if isinstance(deadline, (int, float)) else None

    @property
    def request_id(self):
        return self.aws_request_id

    def get_remaining_time_in_millis(self):
        if self.deadline_ms is None:
            return None
        return max(0, int(self.deadline_ms - time.time() * 1000))

    def __repr__(self):
        return f'Context(aws_request_id={self.aws_request_id!r}, function_name={self.function_name!r})'


def _snake(name):
    return ''.join('_' + c.lower() if c.isupper() else c for c in name).lstrip('_')


def _client_context(text):
    """Lambda's ClientContext: .client (installation_id, app_title, ...), .custom and .env, from the caller's JSON."""
    if text is None:
        return None
    import types  # only when a caller sent a client context

    given = json.loads(text)
    client = given.get('client') or {}
    return types.SimpleNamespace(
        client=types.SimpleNamespace(**{_snake(key): value for key, value in client.items()}) if client else None,
        custom=given.get('custom') or given.get('Custom'),
        env=given.get('env'),
    )


def _identity(text):
    if text is None:
        return None
    import types

    given = json.loads(text)
    return types.SimpleNamespace(cognito_identity_id=given.get('cognitoIdentityId'), cognito_identity_pool_id=given.get('cognitoIdentityPoolId'))


# --- frames ----------------------------------------------------------------------------------------------


def _read_exact(length):
    buffer = bytearray(length)
    view = memoryview(buffer)
    filled = 0
    while filled < length:
        count = os.readv(CTL_IN, [view[filled:]])
        if count == 0:
            raise ControllerGone()
        filled += count
    return buffer


def _read_frame():
    header_length = int.from_bytes(_read_exact(4), 'big')
    if header_length > MAX_HEADER_BYTES:
        raise ValueError(f'control frame header of {header_length} bytes is over the limit')
    header = json.loads(_read_exact(header_length))
    body_length = int.from_bytes(_read_exact(4), 'big')
    if body_length > MAX_BODY_BYTES:
        raise ValueError(f'control frame body of {body_length} bytes is over the limit')
    body = _read_exact(body_length)
    if not isinstance(header, dict):
        raise ValueError('control frame header is not a JSON object')
    return header, body


def _encode_header(header):
    return json.dumps(header, ensure_ascii=False, separators=(',', ':')).encode('utf-8', 'replace')


def _send(header, body=b''):
    head = _encode_header(header)
    error = header.get('error')
    # Only error texts can make a header large: clip them until it fits.
    while len(head) > MAX_HEADER_BYTES and isinstance(error, dict):
        error['message'] = _clip(error.get('message', ''), len(error.get('message', '')) // 2)
        error['stack'] = _clip(error.get('stack', ''), len(error.get('stack', '')) // 2)
        head = _encode_header(header)
    frame = memoryview(b''.join((len(head).to_bytes(4, 'big'), head, len(body).to_bytes(4, 'big'), body)))
    while frame:
        frame = frame[os.write(CTL_OUT, frame):]


def _flush_logs():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # the function may have closed or replaced it
            pass


# --- errors ----------------------------------------------------------------------------------------------


def _clip(text, limit):
    return text if len(text) <= limit else text[:limit] + '...'


def _is_shim_frame(filename):
    return filename == SHIM_FILE or filename == importlib.__file__ or filename.startswith('<frozen importlib')


def _error_info(error):
    """E of docs/PROTOCOL.md, with the shim's own frames left out of the stack."""
    import traceback

    tb = error.__traceback__
    while tb is not None and _is_shim_frame(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    try:
        message = str(error)
    except Exception:
        message = f'<{type(error).__name__} whose str() raised>'
    stack = ''.join(traceback.format_exception(type(error), error, tb))
    return {'type': type(error).__name__, 'message': _clip(message, MESSAGE_CHARS), 'stack': _clip(stack, STACK_CHARS)}


# --- init ------------------------------------------------------------------------------------------------


def _set_up_path(function_dir):
    # The function's modules first, then prebake_runtime (already in sys.modules by now, so a function that
    # ships a module of the same name still gets the shim's hook registry), then the usual path.
    sys.path[:] = [function_dir, SHIM_DIR] + [entry for entry in sys.path if entry not in (SHIM_DIR, function_dir)]


def _load_handler(function_dir, handler_name):
    module_name, _, function_name = handler_name.rpartition('.')
    if not module_name or not function_name:
        raise ValueError(f'handler "{handler_name}": expected "<module>.<function>", for example "main.handler"')
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name is None or not (module_name == error.name or module_name.startswith(error.name + '.')):
            raise  # a module the function imports is missing: its own message says which
        raise ModuleNotFoundError(
            f'handler "{handler_name}": no module "{error.name}" in {function_dir}', name=error.name
        ) from None
    handler = getattr(module, function_name, None)
    if not callable(handler):
        where = getattr(module, '__file__', None) or module_name
        problem = 'is not a function' if hasattr(module, function_name) else 'does not exist'
        raise AttributeError(f'handler "{handler_name}": "{function_name}" in {where} {problem}')
    return handler


# --- messages --------------------------------------------------------------------------------------------


def _invoke(handler, header, body, function_name, memory_mb):
    request_id = header.get('id')
    context = Context(header, function_name, memory_mb)
    try:
        event = json.loads(body) if body else None
        # allow_nan=False: NaN and Infinity are not JSON, and the controller passes the result on unparsed.
        result = json.dumps(handler(event, context), separators=(',', ':'), allow_nan=False).encode('utf-8')
        if len(result) > MAX_BODY_BYTES:
            raise ValueError(f'the result is {len(result)} bytes of JSON, over the limit of {MAX_BODY_BYTES}')
    except Exception as error:
        _flush_logs()
        _send({'type': 'result', 'id': request_id, 'ok': False, 'error': _error_info(error)})
        return
    _flush_logs()
    _send({'type': 'result', 'id': request_id, 'ok': True}, result)


def _checkpoint(hooks):
    try:
        hooks._run(hooks._before_checkpoint)
    except Exception as error:
        _flush_logs()
        _send({'type': 'hook-error', 'phase': 'beforeCheckpoint', 'error': _error_info(error)})
        return
    # After the hooks, which may still use a connection.
    import prebake_connections

    prebake_connections.close_http_connections()
    _slim_for_snapshot()
    # Flushed before the snapshot, so no clone writes the same buffered log line again.
    _flush_logs()
    _send({'type': 'checkpoint-ready'})


def _slim_for_snapshot():
    # A full collection frees cyclic garbage that init and the warm-ups left behind. Measured on the bundled
    # functions: no change in image size (their memory is live), and malloc_trim(0) through ctypes made
    # images 0.2 MB larger (ctypes' own import outweighs what glibc gives back), so it is not done
    # (docs/BENCHMARKS.md, "Slim images").
    gc.collect()


def _resume(hooks, header):
    try:
        seed = header.get('seed')
        if not isinstance(seed, str) or len(seed) != 64:
            raise ValueError('the resume frame has no "seed" of 64 hex characters')
        _reseed(bytes.fromhex(seed))
        hooks._run(hooks._after_restore)
    except Exception as error:
        _flush_logs()
        _send({'type': 'hook-error', 'phase': 'afterRestore', 'error': _error_info(error)})
        return
    _flush_logs()
    _send({'type': 'resumed'})


# Clones restored from one snapshot share every byte of memory, so every generator seeded before the
# snapshot would produce the same numbers in each clone. On resume:
#   - reseeded: the `random` module's global generator (random.random(), random.choice(), ...), OpenSSL's
#     DRBG (only when `ssl`/`_ssl` is loaded: ssl.RAND_add, which child DRBGs pick up on their next draw),
#     numpy's legacy global generator (numpy.random.rand() & co., when numpy.random is loaded), and
#     tempfile's name generator;
#   - fine without reseeding, because they read the kernel on every call: os.urandom, secrets,
#     random.SystemRandom, uuid.uuid4 (uuid.uuid1 mixes in the time and the reseeded `random`);
#   - NOT reachable: `random.Random()` and `numpy.random.default_rng()` instances the function created
#     before the snapshot (reseed them in an @after_restore hook), OpenSSL copies other than the one `ssl`
#     links (for example the one bundled in `cryptography` wheels), and the str/bytes hash seed
#     (PYTHONHASHSEED is fixed at interpreter start: all clones share it).
def _reseed(seed):
    entropy = os.urandom(32) + seed
    modules = sys.modules
    random = modules.get('random')
    if random is not None:
        random.seed(entropy)
    ssl = modules.get('_ssl')
    if ssl is not None:
        ssl.RAND_add(entropy, 32.0)
    tempfile = modules.get('tempfile')
    if tempfile is not None and hasattr(tempfile, '_name_sequence'):
        tempfile._name_sequence = None  # recreated, with a fresh random.Random, on the next use
    numpy_random = modules.get('numpy.random')
    if numpy_random is not None:
        try:
            numpy_random.seed([int.from_bytes(entropy[i : i + 4], 'little') for i in range(0, len(entropy), 4)])
        except Exception as error:  # optional: never fail a restore over numpy
            print(f'prebake: could not reseed numpy.random: {error}', file=sys.stderr)


def _template(kind, header, serve_child):
    # Fork mode (prebake_fork.py): imported only here, so that nothing of it is in a snapshot.
    import prebake_fork

    try:
        if kind == 'template':
            _send({'type': 'template-ready', 'threads': prebake_fork.become_template()})
        elif kind == 'fork':
            tmp_mb = header.get('tmpMb')
            if not isinstance(tmp_mb, int) or tmp_mb <= 0:
                raise ValueError('the fork frame has no "tmpMb"')
            _flush_logs()  # a child must not write the template's buffered output again
            pid, fds = prebake_fork.fork(tmp_mb, header.get('network') in ('none', 'outbound'), header.get('userNamespaces') is True, _read_frame, serve_child)
            _send({'type': 'forked', 'pid': pid, 'fds': fds})
        else:
            prebake_fork.release()
            _send({'type': 'released'})
    except OSError as error:
        _send({'type': 'fork-error', 'error': _error_info(error)})


# --- main ------------------------------------------------------------------------------------------------


def _exit(code):
    # Hard exit: the controller asked for it (or is gone); a function's non-daemon thread must not keep the
    # instance alive.
    _flush_logs()
    os._exit(code)


def main():
    if len(sys.argv) != 3:
        print('usage: shim.py <function dir> <handler>', file=sys.stderr)
        _exit(2)
    function_dir = os.path.abspath(sys.argv[1])
    handler_name = sys.argv[2]
    # Children the function spawns must not inherit the control channel.
    os.set_inheritable(CTL_IN, False)
    os.set_inheritable(CTL_OUT, False)

    sys.path.insert(0, SHIM_DIR)
    import prebake_runtime as hooks

    _set_up_path(function_dir)
    function_name = os.environ.get('PREBAKE_FUNCTION_NAME', '')
    memory_mb = int(os.environ.get('PREBAKE_MEMORY_MB') or 0) or None

    init_started = time.perf_counter()
    try:
        handler = _load_handler(function_dir, handler_name)
    except BaseException as error:  # SystemExit and KeyboardInterrupt in a module body are init errors too
        _flush_logs()
        _send({'type': 'init-error', 'error': _error_info(error)})
        _exit(1)
    init_ms = (time.perf_counter() - init_started) * 1000
    _send({'type': 'ready', 'runtime': 'python', 'initMs': round(init_ms, 3)})

    _serve(handler, hooks, function_name, memory_mb)


def _serve(handler, hooks, function_name, memory_mb, first=None):
    """Answers frames until the controller goes; `first`, a frame already read (a forked child's resume)."""
    try:
        while True:
            header, body = first or _read_frame()
            first = None
            kind = header.get('type')
            if kind == 'invoke':
                _invoke(handler, header, body, function_name, memory_mb)
            elif kind == 'checkpoint':
                _checkpoint(hooks)
            elif kind == 'resume':
                _resume(hooks, header)
            elif kind in ('template', 'fork', 'release'):
                _template(kind, header, lambda first: _serve(handler, hooks, function_name, memory_mb, first))
            else:
                raise ValueError(f'a control frame of unknown type {kind!r}')
    except (ControllerGone, BrokenPipeError):
        _exit(0)
    except ValueError as error:  # a malformed frame: the stream cannot be trusted any more
        print(f'prebake: protocol error: {error}', file=sys.stderr)
        _exit(2)


if __name__ == '__main__':
    main()
