"""The smallest Python function: greets, and counts its invocations since init.

A clone restored from the snapshot starts from the state after the warm-up, so its first invocation
reports the warm-up's invocations plus one.
"""

import time

initialized_at = time.time() * 1000
invocations = 0


def handler(event, context):
    global invocations
    invocations += 1
    name = (event or {}).get('name', 'world')
    return {
        'message': f'Hello, {name}!',
        'runtime': 'python',
        'initializedAt': initialized_at,
        'invocations': invocations,
    }
