#!/usr/bin/env bash
# The Docker image, proven with a real engine (not part of .ci/run: it takes minutes). As root:
#   1. finds a Docker engine, or installs Debian's docker.io and starts dockerd itself (stopped again at the end,
#      with the host networking it set up);
#   2. uses node:24-trixie-slim when it can be pulled, else builds a stand-in (scripts/docker-base.sh);
#   3. builds prebake's image (BuildKit; NODE_EXTRA_CA_CERTS, when set, goes in as the build secret extra-ca)
#      and checks that no compiler and no dev dependency is in it;
#   4. starts it as docs/DAEMON.md says (functions mounted read-only), runs `prebake doctor` inside (its criu must
#      be the lean build with every patch of native/criu/; where the container's /sys is read-only, the huge page
#      fill cannot have turned THP sizes on), registers and invokes one function per runtime over HTTP, each
#      answer a prebaked start (x-prebake-start);
#   5. restarts the container and invokes again: the same builds, restored from the volume's images;
#   6. stops and removes it, and checks that nothing of it is left on the host (processes, cgroups, mounts,
#      instance cgroups).
# It removes its container, volume and temp dirs on every path; the images stay for the next run
# (--remove-images removes them too).
#   scripts/docker-test.sh [--remove-images]
# Environment: RUN_MODE=privileged|caps|all-caps, the ways of docs/DAEMON.md to run it (default: privileged
# where root holds CAP_SYS_RESOURCE, else caps: the four capabilities and no seccomp filter),
# FUNCTIONS_MODE=ro|rw (default ro, as documented), NO_CACHE=1 (build without the build cache),
# DOCKER (a docker CLI that can use BuildKit).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
TAG=docker-test
IMAGE=prebake-test
FUNCTIONS=(hello-node hello-python hello-java)
FUNCTIONS_MODE=${FUNCTIONS_MODE:-ro}
remove_images=
[ "${1:-}" = --remove-images ] && remove_images=1
# shellcheck source=scripts/docker-lib.sh
. scripts/docker-lib.sh

[ "$(id -u)" = 0 ] || fail "run as root (criu in the container needs it, and so may the engine)"
command -v curl >/dev/null || fail "curl is missing"
node=$(command -v node || echo /opt/prebake/bin/node)
"$node" --version >/dev/null 2>&1 || fail "node is missing (run scripts/setup.sh)"
# json FIELD: a field of the JSON object on stdin (dots for nesting).
json() { "$node" -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{let v=JSON.parse(s);for(const k of process.argv[1].split("."))v=v?.[k];console.log(typeof v==="object"?JSON.stringify(v):v)})' "$1"; }

# How to run the container (checked before anything is built).
if [ -z "${RUN_MODE:-}" ]; then
  # CAP_SYS_RESOURCE is bit 24: where root lacks it, --privileged cannot start any container.
  bnd=$(awk '/^CapBnd:/ { print $2 }' /proc/self/status)
  if (( (16#$bnd >> 24) & 1 )); then RUN_MODE=privileged; else RUN_MODE=caps; fi
fi
# Every instance gets a cgroup of its own: --privileged mounts the cgroup filesystem writable, the other ways
# bind it writable; --cgroupns=host so that on cgroup v2 the daemon's own cgroup is not the root it must divide.
cgroups=(-v /sys/fs/cgroup:/sys/fs/cgroup:rw --cgroupns=host)
case $RUN_MODE in
  privileged) caps=(--privileged --cgroupns=host) ;;
  caps) caps=(--cap-add SYS_ADMIN --cap-add SYS_PTRACE --cap-add NET_ADMIN --cap-add SYS_TIME --security-opt seccomp=unconfined --security-opt systempaths=unconfined "${cgroups[@]}") ;;
  all-caps) caps=(--cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined --security-opt systempaths=unconfined "${cgroups[@]}") ;;
  *) fail "RUN_MODE is privileged, caps or all-caps, not $RUN_MODE" ;;
esac
case $FUNCTIONS_MODE in ro) mount_opt=:ro ;; rw) mount_opt= ;; *) fail "FUNCTIONS_MODE is ro or rw, not $FUNCTIONS_MODE" ;; esac

run_id=$$
container=prebake-test-$run_id
volume=prebake-test-store-$run_id
work=$(mktemp -d /tmp/prebake-docker-test.XXXXXX)

# Removes what this run made, in order (the engine last), on every path; once.
finish() {
  [ -n "${finished:-}" ] && return
  finished=1
  if [ -n "${DOCKER:-}" ] && "$DOCKER" info >/dev/null 2>&1; then
    "$DOCKER" rm -f "$container" >/dev/null 2>&1 || true
    "$DOCKER" volume rm -f "$volume" >/dev/null 2>&1 || true
    if [ -n "$remove_images" ]; then "$DOCKER" rmi -f "$IMAGE" "$STANDIN_BASE" >/dev/null 2>&1 || true; fi
  fi
  rm -rf "$work"
  if [ -n "$engine_pid" ]; then engine_down; fi
  return 0
}
trap cleanup EXIT

# --- 1. the engine ------------------------------------------------------------------------------------------
engine_up

# --- 2. the base image --------------------------------------------------------------------------------------
pick_base

# --- 3. prebake's image -------------------------------------------------------------------------------------
build_prebake "$IMAGE"
dev_deps=$("$node" -p 'Object.keys(require("./package.json").devDependencies).join(" ")')
"$DOCKER" run --rm --entrypoint sh "$IMAGE" -c '
  for c in gcc cc g++ make; do command -v $c && exit 1; done
  for d in "$@"; do [ -e /app/node_modules/$d ] && echo "/app/node_modules/$d" && exit 1; done
  find / -xdev -name "extra-ca*" 2>/dev/null | grep . && exit 1
  exit 0' sh $dev_deps >"$work/leak" ||
  fail "the image holds what the build stage should keep: $(cat "$work/leak")"
log "no compiler (gcc, cc, make), no dev dependency, no CA secret in the image"

# --- 4. run it ----------------------------------------------------------------------------------------------
mkdir -p "$work/functions"
for f in "${FUNCTIONS[@]}"; do cp -r "functions/$f" "$work/functions/"; done
# /dev/net/tun: the "outbound" network's helper (slirp4netns) makes each instance's tap device with it.
run_args=(-d --name "$container" "${caps[@]}" --device /dev/net/tun --tmpfs /run -v "$volume:/var/lib/prebake"
          -v "$work/functions:/functions$mount_opt" -p 127.0.0.1::8080 --stop-timeout 45 "$IMAGE"
          --functions-root /functions)
log "docker run ${run_args[*]}"
"$DOCKER" run "${run_args[@]}" >/dev/null

api=
wait_ready() {
  local port
  port=$("$DOCKER" port "$container" 8080/tcp | head -1 | sed 's/.*://')
  api=http://127.0.0.1:$port
  # Any answer will do (with API authentication, /healthz may answer 401 until the token is read).
  for _ in $(seq 150); do [ "$(curl -s -o /dev/null -w '%{http_code}' "$api/healthz")" != 000 ] && return; sleep 0.2; done
  "$DOCKER" logs "$container" 2>&1 | tail -20 >&2
  fail "the daemon did not answer on $api/healthz"
}
# The API token, when the daemon keeps one in its home (API authentication): read from the volume.
auth=()
read_token() {
  local token
  token=$("$DOCKER" exec "$container" sh -c 'cat "$PREBAKE_HOME/api-token" 2>/dev/null' || true)
  auth=(); [ -n "$token" ] && auth=(-H "authorization: Bearer $token")
  return 0
}
# api_call METHOD PATH [BODY]: prints the response's headers and body to $work/response, returns the status.
api_call() {
  curl -s -D "$work/headers" -o "$work/response" -w '%{http_code}' -X "$1" "${auth[@]}" \
    -H 'content-type: application/json' ${3:+-d "$3"} "$api$2"
}
header() { awk -v h="$1" 'index(tolower($0), h ": ") == 1 { sub(/\r$/, ""); print substr($0, length(h) + 3) }' "$work/headers"; }

wait_ready
read_token
log "daemon up at $api ($([ ${#auth[@]} = 0 ] && echo 'no API token' || echo 'API token read from the volume')); prebake doctor inside:"
"$DOCKER" exec "$container" prebake doctor >"$work/doctor" 2>&1 || { cat "$work/doctor" >&2; fail "prebake doctor reports a failure inside the container"; }
cat "$work/doctor" >&2
# The image's criu is the lean build (the Dockerfile's criu stage) with every patch of this checkout.
patches=$(cd native/criu && ls -- *.patch | sed 's/\.patch$//' | paste -sd, - | sed 's/,/, /g')
criu_row=$(grep -E '^ok +criu: ' "$work/doctor" || true)
[[ $criu_row == *": lean build, statically linked ("*"; patches $patches)" ]] ||
  fail "the container's criu is not the lean build with patches $patches: ${criu_row:-no criu row}"
log "criu in the container: the lean build, patches $patches"
# prebake turns on the THP sizes the huge page fill uses by writing to /sys, read-only in a container that is not
# privileged: there the row can only report the host's own settings. The probe writes back the word already
# selected (a no-op, should the write get through).
thp_row=$(grep -E '^(ok|warn) +huge page fill: ' "$work/doctor" || true)
[ -n "$thp_row" ] || fail "doctor has no huge page fill row"
if [ "$RUN_MODE" != privileged ] && [ -f /sys/kernel/mm/transparent_hugepage/hugepages-64kB/enabled ]; then
  "$DOCKER" exec "$container" sh -c 'f=/sys/kernel/mm/transparent_hugepage/hugepages-64kB/enabled
    word=$(sed "s/.*\[\(.*\)\].*/\1/" "$f") && echo "$word" >"$f"' >"$work/thp-write" 2>&1 &&
    fail "the container ($RUN_MODE) could write THP settings: $(cat "$work/thp-write")"
  grep -q 'Read-only file system' "$work/thp-write" || fail "writing THP settings in the container failed otherwise: $(cat "$work/thp-write")"
  [[ $thp_row == *"(set hugepages-"* ]] && fail "doctor says it set THP sizes through a read-only /sys: $thp_row"
  log "huge page fill: /sys is read-only here ($RUN_MODE), so the row reports the host's THP settings"
fi

declare -A build_id initialized
invoke_all() {  # invoke_all LABEL: one prebaked invocation per function, checked
  local f name status start
  for f in "${FUNCTIONS[@]}"; do
    name="docker-$1-$RANDOM"
    status=$(api_call POST "/functions/$f/invoke" "{\"name\": \"$name\"}")
    [ "$status" = 200 ] || fail "$1: invoke $f answered $status: $(cat "$work/response")"
    start=$(header x-prebake-start)
    [ "$start" = prebaked ] || fail "$1: invoke $f started '$start', not prebaked"
    [ "$(json message <"$work/response")" = "Hello, $name!" ] || fail "$1: $f answered $(cat "$work/response")"
    log "$1: $f prebaked, start $(header x-prebake-start-ms) ms, run $(header x-prebake-run-ms) ms"
    if [ -z "${initialized[$f]:-}" ]; then initialized[$f]=$(json initializedAt <"$work/response")
    elif [ "${initialized[$f]}" != "$(json initializedAt <"$work/response")" ]; then
      fail "$1: $f was initialized again ($(json initializedAt <"$work/response"), first ${initialized[$f]}): not restored from the volume"
    fi
  done
}

for f in "${FUNCTIONS[@]}"; do
  status=$(api_call POST /functions "{\"path\": \"/functions/$f\"}")
  [ "$status" = 201 ] || fail "register $f (functions mounted $FUNCTIONS_MODE) answered $status: $(cat "$work/response")"
  build_id[$f]=$(json buildId <"$work/response")
  log "registered $f: build ${build_id[$f]}, image $(json imageBytes <"$work/response" | awk '{ printf "%.1f MB", $1 / 1e6 }'), build $(json buildMs <"$work/response" | awk '{ printf "%.0f", $1 }') ms"
done
invoke_all first

# --- 5. restart: the same builds, from the volume -----------------------------------------------------------
log "docker restart $container"
"$DOCKER" restart -t 45 "$container" >/dev/null
wait_ready
read_token
for f in "${FUNCTIONS[@]}"; do
  status=$(api_call GET "/functions/$f")
  [ "$status" = 200 ] || fail "after the restart, GET /functions/$f answered $status"
  [ "$(json buildId <"$work/response")" = "${build_id[$f]}" ] || fail "after the restart, $f has build $(json buildId <"$work/response"), not ${build_id[$f]}"
done
invoke_all restarted

# --- 6. stop, and nothing left ------------------------------------------------------------------------------
id=$("$DOCKER" inspect -f '{{.Id}}' "$container")
# Instances' cgroups are named after the daemon's PID namespace (src/cgroup/host.ts): the container's.
pidns=$(readlink "/proc/$("$DOCKER" inspect -f '{{.State.Pid}}' "$container")/ns/pid" | tr -dc 0-9)
log "docker stop $container"
"$DOCKER" stop -t 45 "$container" >/dev/null
exit_code=$("$DOCKER" inspect -f '{{.State.ExitCode}}' "$container")
[ "$exit_code" = 0 ] || fail "the daemon exited $exit_code on SIGTERM: $("$DOCKER" logs "$container" 2>&1 | tail -5)"
"$DOCKER" rm "$container" >/dev/null
"$DOCKER" volume rm "$volume" >/dev/null
# Every process of the container (instances in their own PID namespaces included) is in its cgroups, whose
# paths name the container's id; its shim names the id on its command line; its mounts name it too.
# (the id comes from a file so that grep's own command line does not name it)
echo "$id" >"$work/id"
left=$(grep -l -F -f "$work/id" /proc/[0-9]*/cgroup /proc/[0-9]*/cmdline 2>/dev/null || true)
[ -z "$left" ] || fail "processes of the container outlived it: $(for p in $left; do p=${p%/*}; echo "${p#/proc/} $(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)"; done)"
grep -q -F -f "$work/id" /proc/mounts && fail "mounts of the container are left: $(grep "$id" /proc/mounts)"
[ -z "$(find /sys/fs/cgroup -maxdepth 4 -name "*$id*" 2>/dev/null)" ] || fail "cgroups of the container are left: $(find /sys/fs/cgroup -maxdepth 4 -name "*$id*")"
left=$(find /sys/fs/cgroup -maxdepth 3 -type d -path '*/prebake/*' -name "$pidns-*" 2>/dev/null)
[ -z "$left" ] || fail "instance cgroups of the container's daemon are left: $left"
"$DOCKER" volume inspect "$volume" >/dev/null 2>&1 && fail "volume $volume is left"
log "stopped (exit 0): no process, cgroup, mount, container or volume of it is left"

finish
log "PASS ($RUN_MODE, functions $FUNCTIONS_MODE, base $base)"
