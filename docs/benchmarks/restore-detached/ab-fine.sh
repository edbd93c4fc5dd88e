#!/bin/bash
# A/B, finer: 8 rounds x (main, pool) x 10 runs, JSON per run; alternating order each round.
cd /tmp/pool-ab; mkdir -p fine; 
for round in 1 2 3 4 5 6 7 8; do
  if [ $((round % 2)) = 1 ]; then order="base pool"; else order="pool base"; fi
  for tree in $order; do
    home=/tmp/pool-ab/h-$([ $tree = base ] && echo main || echo wt-pool)
    (cd /tmp/pool-ab/$tree && . scripts/env.sh && bin/prebake --home $home bench functions/hello-node -m prebaked -n 10 --warmups 1 --json /tmp/pool-ab/fine/$tree-$round.json > /dev/null 2>&1)
    echo "$round $tree $(cut -d' ' -f1 /proc/loadavg)"
  done
done
