#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh) and runs the checks: typecheck, lint (Biome, and the import graph's
# layering by dependency-cruiser) and the whole test suite, which uses
# real criu and real runtimes; then the dump and restore tests again with criu stopping tasks on syscalls
# instead of hardware breakpoints (PREBAKE_CRIU_BREAKPOINTS=0, docs/CRIU.md), the path hosts whose debug
# registers do not work take. As root; safe to run again.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
. scripts/env.sh
npx tsc --noEmit
npm run --silent lint
npx vitest run "$@"
# About 40 s: only with no arguments (arguments pick files of the suite's run), and only where criu uses
# breakpoints (where they do not work, the run above already took the syscall path).
if [ $# = 0 ] && [ "$(native/build/breakpoint-probe 2>/dev/null || true)" = working ]; then
  PREBAKE_CRIU_BREAKPOINTS=0 npx vitest run test/bake/build.test.ts test/invoke/prebaked.test.ts test/start/restore.test.ts
fi
