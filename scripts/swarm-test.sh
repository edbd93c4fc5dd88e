#!/usr/bin/env bash
# prebake on Docker Swarm, proven with a real engine (not part of .ci/run: it takes minutes). As root:
#   1. an engine whose default seccomp profile is deploy/swarm/seccomp.json (docs/DEPLOY.md: restores need
#      pivot_root, which Docker's default profile refuses): started here with it when no engine runs (stopped at
#      the end, with the host networking it set up); a running engine must have it already;
#   2. a swarm: initialised here when the engine is in none (left at the end); with NODES=2, a second engine in a
#      network namespace of its own joins it as a worker (docs/DEPLOY.md, "Two nodes on one machine");
#   3. prebake's image (scripts/docker-lib.sh) and the demo registry's: registry:2 where it can be pulled, else a
#      stand-in from Debian's docker-registry;
#   4. deploys deploy/swarm/stack.yml with a config that declares nothing, so the registry comes up; builds two
#      versions of a function and pushes them from a builder container (the same image, run as docs/DAEMON.md's
#      "caps" form: a daemon under Swarm's seccomp filter cannot dump);
#   5. rolls the config to v1 and times it to the first prebaked answer on the published port; 100 invocations,
#      each from a fresh prebaked instance (x-prebake-start: prebaked; invocations 2: the warm-up, then this one);
#   6. rolls the config to v2 while a client invokes without pause: no request fails, no answer goes back to v1,
#      and every daemon (asked in its own container) answers v2; the time until then;
#   7. removes the stack, its configs, secrets and volumes, then what steps 1 and 2 made.
#   scripts/swarm-test.sh
# Environment: NODES=1|2 (default 1), PORT (the published port, default 18080), DOCKER (a docker CLI that can
# use BuildKit).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
TAG=swarm-test
IMAGE=prebake-test
REGISTRY_REAL=registry:2
REGISTRY_STANDIN=prebake-registry:standin
STACK=prebake-swarm-test
NODES=${NODES:-1}
PORT=${PORT:-18080}
PROFILE=$here/deploy/swarm/seccomp.json
# shellcheck source=scripts/docker-lib.sh
. scripts/docker-lib.sh

[ "$(id -u)" = 0 ] || fail "run as root (criu in the containers needs it, and so does the engine)"
command -v curl >/dev/null || fail "curl is missing"
case $NODES in 1|2) ;; *) fail "NODES is 1 or 2, not $NODES" ;; esac
node=/opt/prebake/bin/node; [ -x "$node" ] || node=$(command -v node)
"$node" --version >/dev/null 2>&1 || fail "node is missing (run scripts/setup.sh)"
now_ms() { date +%s%3N; }

work=$(mktemp -d /tmp/prebake-swarm-test.XXXXXX)
swarm_made=
node2=
token=$(head -c 24 /dev/urandom | base64 | tr -dc A-Za-z0-9)

finish() {
  [ -n "${finished:-}" ] && return
  finished=1
  if [ -n "${DOCKER:-}" ] && "$DOCKER" info >/dev/null 2>&1; then
    "$DOCKER" stack rm "$STACK" >/dev/null 2>&1 || true
    # Volumes go once no container holds them; the stack's tasks take a few seconds to stop.
    for _ in $(seq 100); do [ -z "$("$DOCKER" ps -aq --filter "label=com.docker.stack.namespace=$STACK")" ] && break; sleep 0.5; done
    "$DOCKER" volume rm -f "${STACK}_prebake-store" "${STACK}_registry-data" >/dev/null 2>&1 || true
    "$DOCKER" rm -f "$STACK-builder" >/dev/null 2>&1 || true
    "$DOCKER" volume rm -f "$STACK-builder-store" >/dev/null 2>&1 || true
    if [ -n "$node2" ]; then node2_down; fi
    if [ -n "$swarm_made" ]; then "$DOCKER" swarm leave --force >/dev/null 2>&1 || true; fi
  fi
  rm -rf "$work"
  if [ -n "${migrate_before:-}" ]; then sysctl -qw "net.ipv4.tcp_migrate_req=$migrate_before"; fi
  if [ -n "$engine_pid" ]; then engine_down; fi
  return 0
}
trap cleanup EXIT

# --- 1. the engine, with the profile -----------------------------------------------------------------------
engine_up --seccomp-profile "$PROFILE"
profile=$("$DOCKER" info --format '{{range .SecurityOptions}}{{.}} {{end}}' | grep -o 'name=seccomp,profile=[^ ]*' || true)
[ "$profile" = "name=seccomp,profile=$PROFILE" ] || cmp -s "${profile#name=seccomp,profile=}" "$PROFILE" ||
  fail "the running engine's seccomp profile is '${profile#name=seccomp,profile=}', not $PROFILE: restart dockerd with --seccomp-profile $PROFILE (docs/DEPLOY.md), or stop it and let this script start one"
log "engine's default seccomp profile: $PROFILE"

# --- 2. the swarm --------------------------------------------------------------------------------------------
advertise=$(ip -4 route get 1.1.1.1 2>/dev/null | awk '{ for (i = 1; i < NF; i++) if ($i == "src") print $(i + 1) }')
case $("$DOCKER" info --format '{{.Swarm.LocalNodeState}}') in
  active) log "the engine is already in a swarm: using it" ;;
  *)
    [ -n "$advertise" ] || fail "no address to advertise the swarm on (no default route)"
    "$DOCKER" swarm init --advertise-addr "$advertise" >/dev/null
    swarm_made=1
    log "swarm initialised on $advertise"
    ;;
esac
if [ "$NODES" = 2 ]; then
  # shellcheck source=scripts/swarm-node2.sh
  . scripts/swarm-node2.sh
  node2_up
fi

# --- 3. images -------------------------------------------------------------------------------------------------
pick_base
build_prebake "$IMAGE"
if pull_or "$REGISTRY_REAL"; then
  registry_image=$REGISTRY_REAL
else
  registry_image=$REGISTRY_STANDIN
  if ! "$DOCKER" image inspect "$REGISTRY_STANDIN" >/dev/null 2>&1; then
    log "$REGISTRY_REAL cannot be pulled: building a stand-in from Debian's docker-registry"
    "$DOCKER" build -q --build-arg "BASE=$base" -t "$REGISTRY_STANDIN" - >/dev/null <<'EOF'
ARG BASE
FROM ${BASE}
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends docker-registry >/dev/null && rm -rf /var/lib/apt/lists/*
RUN printf 'version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/registry\nhttp:\n  addr: 0.0.0.0:5000\n' >/etc/docker/registry/config.yml
EXPOSE 5000
ENTRYPOINT ["/usr/bin/docker-registry", "serve", "/etc/docker/registry/config.yml"]
EOF
  fi
fi
if [ "$NODES" = 2 ]; then node2_images "$IMAGE"; fi
log "registry image: $registry_image"

# --- 4. the stack with nothing declared; two versions pushed --------------------------------------------------
# The routing mesh needs IPVS. Without it (this VM's kernel has no CONFIG_IP_VS), the stack's variant without the
# mesh: each daemon on its node's network, a replacement listening beside the old one (SO_REUSEPORT); the kernel
# hands a closing listener's queued connections to the other (tcp_migrate_req), so a roll drops none.
stack=$here/deploy/swarm/stack.yml
registry_host=registry:5000
migrate_before=
if [ ! -e /proc/net/ip_vs ]; then
  stack=$work/stack-host-network.yml
  "$node" scripts/swarm-host-network.ts >"$stack"
  registry_host=$advertise:5000
  migrate_before=$(sysctl -n net.ipv4.tcp_migrate_req)
  sysctl -qw net.ipv4.tcp_migrate_req=1
  log "no IPVS in this kernel, so no routing mesh: the stack's host-network variant (scripts/swarm-host-network.ts), tcp_migrate_req=1"
fi
printf '%s\n' "$token" >"$work/token"
# config VERSION [FUNCTION TAG]: the daemon config the stack gets as config VERSION.
write_config() {
  local functions='[]'
  [ -n "${2:-}" ] && functions="[{\"name\": \"swarm-hello\", \"bundle\": \"$registry_host/functions/swarm-hello:$2\"}]"
  printf '{ "insecureRegistries": ["%s"], "functions": %s }\n' "$registry_host" "$functions" >"$work/config-$1.json"
}
deploy() {  # deploy VERSION: docker stack deploy with config VERSION
  (cd "$work" && PREBAKE_IMAGE=$IMAGE REGISTRY_IMAGE=$registry_image PREBAKE_CONFIG="$work/config-$1.json" PREBAKE_TOKEN_FILE="$work/token" \
    PREBAKE_CONFIG_VERSION="$STACK-$1" PREBAKE_PORT=$PORT \
    "$DOCKER" stack deploy --resolve-image never -c "$stack" "$STACK" >"$work/deploy.log" 2>&1) ||
    { cat "$work/deploy.log" >&2; fail "docker stack deploy (config $1) failed"; }
}
api() {  # api METHOD PATH [BODY] (through the published port): the body to $work/response, the status printed
  curl -s -D "$work/headers" -o "$work/response" -w '%{http_code}' -X "$1" -H "authorization: Bearer $token" \
    -H 'content-type: application/json' ${3:+-d "$3"} "http://127.0.0.1:$PORT$2"
}

write_config 0
started=$(now_ms)
deploy 0
for _ in $(seq 600); do [ "$(api GET /healthz)" = 200 ] && break; sleep 0.2; done
[ "$(api GET /healthz)" = 200 ] || { "$DOCKER" service logs "${STACK}_prebake" 2>&1 | tail -20 >&2; fail "no daemon answered /healthz on port $PORT"; }
log "stack up (nothing declared): a daemon answered /healthz $(( $(now_ms) - started )) ms after docker stack deploy"
for _ in $(seq 300); do curl -s -o /dev/null "http://127.0.0.1:5000/v2/" && break; sleep 0.2; done
curl -s -o /dev/null "http://127.0.0.1:5000/v2/" || fail "the stack's registry does not answer on 127.0.0.1:5000"

mkdir -p "$work/functions"
for v in v1 v2; do
  cp -r functions/hello-node "$work/functions/$v"
  sed -i "s/\"runtime\": \"node\",/\"name\": \"swarm-hello\", \"runtime\": \"node\",/" "$work/functions/$v/function.json"
  sed -i "s/runtime: 'node',/runtime: 'node', version: '$v',/" "$work/functions/$v/index.js"
  grep -q "version: '$v'" "$work/functions/$v/index.js" || fail "could not make version $v of the function"
done
# The builder: docs/DAEMON.md's caps form (no seccomp filter, so criu can dump), on the host's network so that
# the registry's published port is 127.0.0.1:5000 (http: a registry on this machine).
"$DOCKER" run -d --name "$STACK-builder" --network host --cap-add SYS_ADMIN --cap-add SYS_PTRACE --cap-add NET_ADMIN \
  --cap-add SYS_TIME --security-opt seccomp=unconfined --security-opt systempaths=unconfined \
  -v /sys/fs/cgroup:/sys/fs/cgroup:rw --cgroupns=host --tmpfs /run -v "$STACK-builder-store:/var/lib/prebake" \
  -v "$work/functions:/functions:ro" --entrypoint sleep "$IMAGE" infinity >/dev/null
for v in v1 v2; do
  "$DOCKER" exec "$STACK-builder" prebake build --replace "/functions/$v" >"$work/build-$v.log" 2>&1 ||
    { tail -5 "$work/build-$v.log" >&2; fail "building $v failed"; }
  "$DOCKER" exec "$STACK-builder" prebake push swarm-hello "127.0.0.1:5000/functions/swarm-hello:$v" >"$work/push-$v.log" 2>&1 ||
    { cat "$work/push-$v.log" >&2; fail "pushing $v failed"; }
  log "built and pushed $v: $(tail -1 "$work/push-$v.log")"
done
"$DOCKER" rm -f "$STACK-builder" >/dev/null
"$DOCKER" volume rm "$STACK-builder-store" >/dev/null

# --- 5. roll to v1: the first prebaked answer; 100 fresh instances ---------------------------------------------
# loop OUT COUNT|STOPFILE: invocations through the published port, a line each (scripts/invoke-loop.ts).
loop() { "$node" scripts/invoke-loop.ts "http://127.0.0.1:$PORT/functions/swarm-hello/invoke" "$token" "$@"; }
write_config 1 v1
started=$(now_ms)
deploy 1
first=
for _ in $(seq 1200); do
  loop "$work/first" 1
  read -r _ status start version _ < <(tail -1 "$work/first")
  if [ "$status" = 200 ] && [ "$start" = prebaked ] && [ "$version" = v1 ]; then first=$(( $(now_ms) - started )); break; fi
  sleep 0.1
done
[ -n "$first" ] || { "$DOCKER" service logs "${STACK}_prebake" 2>&1 | tail -30 >&2; fail "no prebaked v1 answer within 2 minutes of the roll to v1"; }
log "config v1: first prebaked answer $first ms after docker stack deploy"
# Until the daemons of config 0 are gone, an answer may come from one still pulling v1: wait for the roll to end.
for _ in $(seq 600); do [ "$("$DOCKER" service inspect "${STACK}_prebake" --format '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}')" != updating ] && break; sleep 0.2; done
loop "$work/hundred" 100
# Lines: <ms> <status> <start> <version> <invocations> <start-ms> [error]
bad=$(awk '$2 != 200 || $3 != "prebaked" || $4 != "v1" || $5 != 2' "$work/hundred")
[ -z "$bad" ] || fail "of 100 invocations, not each 200, prebaked, v1 and a fresh instance (invocations 2): $(head -5 <<<"$bad")"
[ "$(wc -l <"$work/hundred")" = 100 ] || fail "the client wrote $(wc -l <"$work/hundred") answers, not 100"
start_ms=$(awk '{ print $6 }' "$work/hundred" | sort -n | awk '{ a[NR] = $1 } END { printf "p50 %.1f ms, p90 %.1f ms", a[int(NR * 0.5)], a[int(NR * 0.9)] }')
log "100 invocations: each 200, prebaked, v1, a fresh instance (invocations 2); prebaked start $start_ms"

# --- 6. roll to v2 under load ---------------------------------------------------------------------------------
write_config 2 v2
: >"$work/rolling"
loop "$work/answers" "$work/rolling" &
client=$!
started=$(now_ms)
deploy 2
# Every daemon answers v2, asked on its own. With the mesh, in its own container (port 8080 of its network
# namespace); on the host network, at its node's address, once the roll has left one daemon per node.
every_daemon_v2() {
  local engine c n=0 containers address
  containers=$(daemon_containers)
  [ -n "$containers" ] || return 1
  if [ "$stack" != "$here/deploy/swarm/stack.yml" ]; then
    [ "$(wc -l <<<"$containers")" = "$NODES" ] || return 1
    for address in 127.0.0.1 ${node2:+$NODE2_ADDR}; do
      : >"$work/probe"
      "$node" scripts/invoke-loop.ts "http://$address:$PORT/functions/swarm-hello/invoke" "$token" "$work/probe" 1
      read -r _ status _ version _ <"$work/probe"
      [ "$status" = 200 ] && [ "$version" = v2 ] || return 1
    done
    return 0
  fi
  while read -r engine c; do
    n=$((n + 1))
    $engine exec "$c" node -e '
      fetch("http://127.0.0.1:8080/functions/swarm-hello/invoke", { method: "POST", headers: { authorization: "Bearer " + process.argv[1], "content-type": "application/json" }, body: "{}" })
        .then(r => r.json()).then(b => process.exit(b.version === "v2" ? 0 : 1), () => process.exit(1))' "$token" >/dev/null 2>&1 || return 1
  done <<<"$containers"
  [ "$n" -ge "$NODES" ]
}
# "<docker CLI> <container>" per prebake daemon running now, on each engine.
daemon_containers() {
  "$DOCKER" ps -q --filter "label=com.docker.swarm.service.name=${STACK}_prebake" | sed "s|^|$DOCKER |"
  if [ -n "$node2" ]; then "$DOCKER" -H "$node2" ps -q --filter "label=com.docker.swarm.service.name=${STACK}_prebake" | sed "s|^|$DOCKER -H $node2 |"; fi
}
all=
for _ in $(seq 600); do
  if [ "$("$DOCKER" service inspect "${STACK}_prebake" --format '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}')" != updating ] && every_daemon_v2; then
    all=$(( $(now_ms) - started )); break
  fi
  sleep 0.2
done
sleep 2
rm -f "$work/rolling"
wait "$client" || true
[ -n "$all" ] || fail "not every daemon answered v2 within 2 minutes of the roll: $("$DOCKER" service ps "${STACK}_prebake" 2>&1 | head -10)"
# While old and new daemons overlap (start-first), requests reach both: v1 and v2 answers mix until the old stop.
total=$(wc -l <"$work/answers")
failed=$(awk '$2 != 200' "$work/answers" | wc -l)
late_v1=$(awk -v t=$((started + all)) '$1 > t && $4 != "v2"' "$work/answers" | wc -l)
log "roll to v2: every daemon on v2 $all ms after docker stack deploy; $total invocations meanwhile: $failed failed, $(awk '$4 == "v1"' "$work/answers" | wc -l) answered v1, $(awk '$4 == "v2"' "$work/answers" | wc -l) v2"
[ "$failed" = 0 ] || fail "$failed of $total invocations failed during the roll: $(awk '$2 != 200 { $1 = ""; print }' "$work/answers" | sort | uniq -c | head -5)"
[ "$late_v1" = 0 ] || fail "$late_v1 answers were not v2 after every daemon answered v2"

# --- 7. remove -----------------------------------------------------------------------------------------------
"$DOCKER" stack rm "$STACK" >/dev/null
for _ in $(seq 150); do [ -z "$("$DOCKER" ps -aq --filter "label=com.docker.stack.namespace=$STACK")" ] && break; sleep 0.2; done
[ -z "$("$DOCKER" ps -aq --filter "label=com.docker.stack.namespace=$STACK")" ] || fail "containers of the stack outlived docker stack rm"
"$DOCKER" volume rm "${STACK}_prebake-store" "${STACK}_registry-data" >/dev/null
left=$("$DOCKER" config ls -q --filter "name=prebake-config-$STACK"; "$DOCKER" secret ls -q --filter "name=${STACK}_"; "$DOCKER" network ls -q --filter "name=${STACK}_")
[ -z "$left" ] || { sleep 3; left=$("$DOCKER" config ls -q --filter "name=prebake-config-$STACK"; "$DOCKER" secret ls -q --filter "name=${STACK}_"; "$DOCKER" network ls -q --filter "name=${STACK}_"); }
[ -z "$left" ] || fail "the stack left configs, secrets or networks: $left"
log "stack removed: no container, volume, config, secret or network of it is left"
finish
log "PASS ($NODES node(s), Docker $engine_version)"
