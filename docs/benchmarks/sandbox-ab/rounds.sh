#!/bin/bash
# Final A/B: before = main at 0756efc (/tmp/ab-old), after = /tmp/ab-after (a clone of main at the end);
# same lean criu for both (PREBAKE_CRIU), alternating rounds.
set -u
export PREBAKE_CRIU=/opt/prebake/criu-lean/criu
FNS="functions/hello-node functions/heavy-node functions/hello-python functions/heavy-python functions/hello-java functions/heavy-java"
out=/tmp/ab/final; mkdir -p $out
for round in 1 2; do
  for tree in old after; do
    home=/var/tmp/abf-home-$tree; mkdir -p $home; chmod 0711 $home
    cd ${TREES:-/tmp/ab}-$tree
    echo "$tree round $round start $(date +%T) load $(cut -d' ' -f1 /proc/loadavg)"
    PATH=/opt/prebake/bin:$PATH bin/prebake --home $home bench $FNS -m cold,prebaked -n 30 --json $out/$tree-$round.json > $out/$tree-$round.txt 2>$out/$tree-$round.err
    echo "$tree round $round rc=$? $(date +%T) load $(cut -d' ' -f1 /proc/loadavg)"
  done
done
