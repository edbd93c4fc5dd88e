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

# The namespace and the veth pair; on this kernel a namespace just made sometimes refuses the first operation
# on it (EINVAL, as test/launch/outbound.test.ts saw), so a failed attempt is taken down and made again.
node2_network() {
  ip netns add "$NODE2_NS" &&
    ip link add pbnode2-h type veth peer name pbnode2-n &&
    ip link set pbnode2-n netns "$NODE2_NS" &&
    ip addr add "$NODE2_HOST_ADDR/24" dev pbnode2-h &&
    ip link set pbnode2-h up &&
    ip -n "$NODE2_NS" link set lo up &&
    ip -n "$NODE2_NS" addr add "$NODE2_ADDR/24" dev pbnode2-n &&
    ip -n "$NODE2_NS" link set pbnode2-n up &&
    ip -n "$NODE2_NS" route add default via "$NODE2_HOST_ADDR" &&
    node2_nat -I
}
# Out to the world through the host (its builds fetch from Debian's archive): masqueraded, and let through
# dockerd's FORWARD policy (DROP). node2_nat -I adds the rules, -D takes them away.
node2_nat() {
  iptables -t nat "$1" POSTROUTING -s "$NODE2_ADDR/32" ! -o pbnode2-h -j MASQUERADE &&
    iptables "$1" FORWARD -i pbnode2-h -j ACCEPT &&
    iptables "$1" FORWARD -o pbnode2-h -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
}
node2_network_down() {
  while node2_nat -D 2>/dev/null; do :; done
  ip netns del "$NODE2_NS" 2>/dev/null || true
  ip link del pbnode2-h 2>/dev/null || true
}

node2_up() {
  # Set first: from here on, node2_down takes away whatever was made.
  node2=$NODE2_SOCK
  local attempt
  for attempt in 1 2 3; do
    node2_network 2>"$work/node2-net.err" && break
    log "setting up $NODE2_NS failed ($(tr '\n' ' ' <"$work/node2-net.err")), attempt $attempt: again"
    node2_network_down
    [ "$attempt" = 3 ] && fail "could not set up the network namespace $NODE2_NS"
  done
  mkdir -p "$NODE2_DATA" "$NODE2_EXEC"
  echo '{}' >"$work/node2.json"
  log "second engine in network namespace $NODE2_NS ($NODE2_ADDR), socket $NODE2_SOCK"
  setsid nsenter --net="/run/netns/$NODE2_NS" dockerd --config-file "$work/node2.json" --data-root "$NODE2_DATA" \
    --exec-root "$NODE2_EXEC" --pidfile "$NODE2_EXEC.pid" -H "$NODE2_SOCK" --cgroup-parent prebake-swarm-node2 \
    --seccomp-profile "$PROFILE" --storage-driver vfs >"$work/dockerd-node2.log" 2>&1 &
  node2_pid=$!
  for _ in $(seq 150); do "$DOCKER" -H "$node2" info >/dev/null 2>&1 && break; kill -0 "$node2_pid" 2>/dev/null || break; sleep 0.2; done
  "$DOCKER" -H "$node2" info >/dev/null 2>&1 || { tail -20 "$work/dockerd-node2.log" >&2; fail "the second dockerd did not come up"; }
  "$DOCKER" -H "$node2" swarm join --advertise-addr "$NODE2_ADDR" --token "$("$DOCKER" swarm join-token -q worker)" "$advertise:2377" >/dev/null ||
    fail "the second engine could not join the swarm at $advertise:2377"
  for _ in $(seq 100); do [ "$("$DOCKER" node ls --filter role=worker --format '{{.Status}}' | grep -c Ready)" -ge 1 ] && break; sleep 0.2; done
  log "two nodes: $("$DOCKER" node ls --format '{{.Hostname}}/{{.ManagerStatus}}/{{.Status}}' | paste -sd' ')"
}

# prebake's image on the second engine, built there from this checkout: `docker save` of it failed every time on
# this kernel (Docker 20.10's overlay2: "open .../merged/usr/lib/jvm/.../classes.jsa: no such file or
# directory"), and a saved stand-in base, though saved without an error, came out without /bin/sh. So the base
# is made on the second engine as on the first (scripts/docker-base.sh), and that engine stores its layers with
# vfs (whole copies, no overlay). The registry runs on the manager only.
node2_images() {
  local started
  started=$(date +%s)
  if [ "$base" != "$REAL_BASE" ]; then DOCKER_HOST=$node2 DOCKER=$DOCKER bash scripts/docker-base.sh "$base" >/dev/null; fi
  DOCKER_HOST=$node2 build_prebake "$1"
  log "prebake's image built on the second engine in $(( $(date +%s) - started )) s"
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
  node2_network_down
  # dockerd leaves its bind mounts of network namespaces (exec-root/netns/*) behind when it stops.
  awk -v a="$NODE2_EXEC" -v b="$NODE2_DATA" 'index($5, a) == 1 || index($5, b) == 1 { print $5 }' /proc/self/mountinfo |
    sort -r | while read -r mount; do umount -l "$mount" || true; done
  rm -rf "$NODE2_DATA" "$NODE2_EXEC" "$NODE2_EXEC.pid"
  # Its cgroup parent, and BuildKit's cgroup under it: children first.
  for dir in /sys/fs/cgroup/*/prebake-swarm-node2 /sys/fs/cgroup/prebake-swarm-node2; do
    [ -d "$dir" ] && find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  [ -z "$(find /sys/fs/cgroup -maxdepth 2 -name prebake-swarm-node2)" ] || log "cgroups of the second engine are left: $(find /sys/fs/cgroup -maxdepth 2 -name prebake-swarm-node2 | paste -sd' ')"
  node2=
  log "second engine stopped; its namespace, veth, data and cgroups removed"
}
