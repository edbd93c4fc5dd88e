#!/usr/bin/env bash
# Builds prebake's native helpers into native/build/ with the system C compiler (no node-gyp: Node-API is a
# stable C ABI, so one build serves every Node >= 18 and needs only the headers from node-api-headers).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
headers=../node_modules/node-api-headers/include
[ -d "$headers" ] || { echo "native/build.sh: run npm ci first ($headers is missing)" >&2; exit 1; }
mkdir -p build
cflags=(-O2 -Wall -Wextra -Werror)
# The two launchers run on every start: linked statically, each skips the dynamic loader (~0.2 ms per exec here).
gcc "${cflags[@]}" -static -o build/prebake-exec.tmp prebake-exec.c && mv build/prebake-exec.tmp build/prebake-exec
gcc "${cflags[@]}" -static -o build/prebake-restore.tmp prebake-restore.c && mv build/prebake-restore.tmp build/prebake-restore
gcc "${cflags[@]}" -Wno-unused-parameter -shared -fPIC -I"$headers" -o build/pipe.node.tmp pipe.c && mv build/pipe.node.tmp build/pipe.node
gcc "${cflags[@]}" -Wno-unused-parameter -shared -fPIC -I"$headers" -o build/reseed.node.tmp reseed.c && mv build/reseed.node.tmp build/reseed.node
gcc "${cflags[@]}" -Wno-unused-parameter -shared -fPIC -I"$headers" -o build/trim.node.tmp trim.c && mv build/trim.node.tmp build/trim.node
gcc "${cflags[@]}" -Wno-unused-parameter -shared -fPIC -pthread -I"$headers" -o build/spawn.node.tmp spawn.c && mv build/spawn.node.tmp build/spawn.node
# Host probes for doctor, bench and the choice of how criu stops tasks (src/criu/breakpoints.ts, page-fault-cost.ts).
gcc "${cflags[@]}" -o build/breakpoint-probe.tmp breakpoint-probe.c && mv build/breakpoint-probe.tmp build/breakpoint-probe
gcc "${cflags[@]}" -o build/page-fault-probe.tmp page-fault-probe.c && mv build/page-fault-probe.tmp build/page-fault-probe
