# Sourced by scripts/swarm-test.sh with NODES=2: a second Docker engine on this machine, in a network namespace
# of its own (its own bridge, iptables rules and published ports), joined to the swarm as a worker over a veth
# pair. Only the network is its own: nsenter --net, not `ip netns exec`, which would also remount /sys and hide
# the cgroup hierarchy from it. node2_down takes all of it away.
NODE2_NS=prebake-swarm-node2
NODE2_ADDR=10.199.0.2
NODE2_HOST_ADDR=10.199.0.1
NODE2_DATA=/var/lib/prebake-swarm-node2
NODE2_EXEC=/run/prebake-swarm-node2
NODE2_SOCK=unix:///run/prebake-swarm-node2.sock
node2_pid=

node2_up() {
  ip netns add "$NODE2_NS"
  ip link add pbnode2-h type veth peer name pbnode2-n
  ip link set pbnode2-n netns "$NODE2_NS"
  ip addr add "$NODE2_HOST_ADDR/24" dev pbnode2-h
  ip link set pbnode2-h up
  ip -n "$NODE2_NS" link set lo up
  ip -n "$NODE2_NS" addr add "$NODE2_ADDR/24" dev pbnode2-n
  ip -n "$NODE2_NS" link set pbnode2-n up
  ip -n "$NODE2_NS" route add default via "$NODE2_HOST_ADDR"
  node2=$NODE2_SOCK
  mkdir -p "$NODE2_DATA" "$NODE2_EXEC"
  echo '{}' >"$work/node2.json"
  log "second engine in network namespace $NODE2_NS ($NODE2_ADDR), socket $NODE2_SOCK"
  setsid nsenter --net="/run/netns/$NODE2_NS" dockerd --config-file "$work/node2.json" --data-root "$NODE2_DATA" \
    --exec-root "$NODE2_EXEC" --pidfile "$NODE2_EXEC.pid" -H "$NODE2_SOCK" --cgroup-parent prebake-swarm-node2 \
    --seccomp-profile "$PROFILE" >"$work/dockerd-node2.log" 2>&1 &
  node2_pid=$!
  for _ in $(seq 150); do "$DOCKER" -H "$node2" info >/dev/null 2>&1 && break; kill -0 "$node2_pid" 2>/dev/null || break; sleep 0.2; done
  "$DOCKER" -H "$node2" info >/dev/null 2>&1 || { tail -20 "$work/dockerd-node2.log" >&2; fail "the second dockerd did not come up"; }
  "$DOCKER" -H "$node2" swarm join --advertise-addr "$NODE2_ADDR" --token "$("$DOCKER" swarm join-token -q worker)" "$advertise:2377" >/dev/null ||
    fail "the second engine could not join the swarm at $advertise:2377"
  for _ in $(seq 100); do [ "$("$DOCKER" node ls --filter role=worker --format '{{.Status}}' | grep -c Ready)" -ge 1 ] && break; sleep 0.2; done
  log "two nodes: $("$DOCKER" node ls --format '{{.Hostname}}/{{.ManagerStatus}}/{{.Status}}' | paste -sd' ')"
}

# The images the stack runs, copied to the second engine (it reaches no registry that holds them).
node2_images() {
  local started
  started=$(date +%s)
  "$DOCKER" save "$1" "$registry_image" | "$DOCKER" -H "$node2" load -q >/dev/null
  log "images copied to the second engine in $(( $(date +%s) - started )) s"
}

node2_down() {
  local id
  "$DOCKER" -H "$node2" swarm leave --force >/dev/null 2>&1 || true
  for id in $("$DOCKER" node ls --filter role=worker -q 2>/dev/null); do "$DOCKER" node rm --force "$id" >/dev/null 2>&1 || true; done
  if [ -n "$node2_pid" ]; then
    kill "$node2_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$node2_pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$node2_pid" 2>/dev/null && log "the second dockerd ($node2_pid) is still running 20 s after SIGTERM"
  fi
  ip netns del "$NODE2_NS" 2>/dev/null || true
  ip link del pbnode2-h 2>/dev/null || true
  rm -rf "$NODE2_DATA" "$NODE2_EXEC" "$NODE2_EXEC.pid"
  find /sys/fs/cgroup -maxdepth 2 -type d -name prebake-swarm-node2 -exec rmdir {} + 2>/dev/null || true
  node2=
  log "second engine stopped; its namespace, veth, data and cgroups removed"
}
