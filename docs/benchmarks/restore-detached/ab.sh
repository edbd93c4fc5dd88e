#!/bin/bash
# A/B: main vs pool, prebaked hello-node, alternating rounds
cd /tmp/pool-ab
for tree in main wt-pool; do mkdir -p h-$tree; chmod 0711 h-$tree; done
for round in 1 2 3; do
  for tree in main wt-pool; do
    echo "== round $round $tree load $(cut -d' ' -f1-3 /proc/loadavg)"
    (cd $( [ $tree = main ] && echo /tmp/pool-ab/base || echo /tmp/pool-ab/pool ) && . scripts/env.sh && bin/prebake --home /tmp/pool-ab/h-$tree bench functions/hello-node -m prebaked -n 40 2>&1 | grep -E "^prebaked|load average")
  done
done
