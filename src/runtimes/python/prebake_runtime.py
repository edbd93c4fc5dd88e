"""Lifecycle hooks for Python functions run by prebake.

    import prebake_runtime

    @prebake_runtime.before_checkpoint
    def close_connections():
        pool.close()          # runs once, before the snapshot is taken

    @prebake_runtime.after_restore
    def reconnect():
        pool.open()           # runs in every clone restored from the snapshot, after reseeding

Hooks take no arguments and run in the order they were registered. A hook that raises fails the build
(before_checkpoint) or the invocation that restored the clone (after_restore).

Randomness after restore: the shim reseeds the `random` module's global generator, numpy's legacy global
generator and OpenSSL (when `ssl` is loaded) before the after_restore hooks run. A `random.Random()` instance
the function created at init is *not* reachable: every clone would draw the same numbers from it. Reseed
such instances in an after_restore hook, or use `secrets` / `random.SystemRandom`, which read the kernel.
"""

_before_checkpoint = []
_after_restore = []


def before_checkpoint(hook):
    """Registers `hook()` to run before the snapshot is taken. Returns `hook`, so it works as a decorator."""
    _before_checkpoint.append(hook)
    return hook


def after_restore(hook):
    """Registers `hook()` to run in each restored clone, after reseeding. Returns `hook` (a decorator)."""
    _after_restore.append(hook)
    return hook


def _run(hooks):
    for hook in list(hooks):
        hook()
