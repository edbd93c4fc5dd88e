#!/usr/bin/env bash
# The main job: set everything up (scripts/setup.sh), build the bundled functions into images, and compare
# plain starts, prebaked starts (criu restore), pooled clones, fork children (Python) and warm starts side by side with `prebake bench`.
# As root; safe to run again, from any checkout: the bundled functions' names in the home are taken over by this
# checkout's (bench --replace). Extra arguments go to `prebake bench` (for example --runs 50).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
. scripts/env.sh
export PREBAKE_HOME=${PREBAKE_HOME:-/var/lib/prebake}
mkdir -p bench-results
doctor=$(bin/prebake doctor --json) || { echo "$doctor" >&2; echo "quickstart: prebake doctor failed" >&2; exit 1; }
functions=()
for dir in functions/*/; do
  runtime=$(node -p 'require(process.argv[1]).runtime' "$PWD/$dir/function.json")
  if node -e 'process.exit(JSON.parse(process.argv[1]).some(c => c.name === `runtime ${process.argv[2]}` && c.ok) ? 0 : 1)' "$doctor" "$runtime"; then
    functions+=("${dir%/}")
  else
    echo "quickstart: skipping ${dir%/}: the $runtime runtime is not available (see prebake doctor)" >&2
  fi
done
bin/prebake bench --replace "${functions[@]}" --modes cold,prebaked,pooled,fork,warm --json bench-results/bench.json --chart bench-results/bench.svg "$@"
