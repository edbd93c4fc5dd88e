#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh) and runs the checks: typecheck and the whole test suite, which uses
# real criu and real runtimes. As root; safe to run again.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
. scripts/env.sh
npx tsc --noEmit
npx vitest run "$@"
