# Source this (`. scripts/env.sh`) to put the node and criu that scripts/setup.sh chose first on PATH.
export PATH="${PREBAKE_PREFIX:-/opt/prebake}/bin:$PATH"
