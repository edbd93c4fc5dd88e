# Shared by scripts/docker-test.sh and scripts/swarm-test.sh (sourced, not run): logging, a Docker engine (found,
# or Debian's docker.io started by hand and stopped again with the host networking it set up), the base image,
# and prebake's image. The caller sets TAG (the log prefix) and work (its temp dir), and calls engine_down on exit
# when engine_pid is set.

log() { printf '[%s +%ss] %s\n' "$TAG" "$SECONDS" "$*" >&2; }
fail() { printf '[%s +%ss] FAIL: %s\n' "$TAG" "$SECONDS" "$*" >&2; exit 1; }

# A CLI that can build with BuildKit (the Dockerfile mounts a secret): one with buildx, or Docker 18.09-20.10's,
# which has BuildKit built in (Debian 12's docker.io). A newer CLI without buildx falls back to the legacy builder.
pick_cli() {
  local c
  for c in ${DOCKER:-} docker /usr/bin/docker; do
    command -v "$c" >/dev/null || continue
    if "$c" buildx version >/dev/null 2>&1; then echo "$c"; return; fi
    case $("$c" version --format '{{.Client.Version}}' 2>/dev/null) in 18.09*|19.03*|20.10*) echo "$c"; return ;; esac
  done
}

engine_pid=
engine_network_before=
# dockerd sets up host networking it never takes down: the docker0 bridge, its iptables chains and rules, the
# FORWARD policy DROP and net.ipv4.ip_forward=1. When this script brings the first engine up (no docker0
# before), it puts those back as they were once the engine is stopped.
record_engine_network() {
  ip link show docker0 >/dev/null 2>&1 && return 0
  engine_network_before="$(sysctl -n net.ipv4.ip_forward) $(iptables -S FORWARD | awk '$1 == "-P" { print $3 }')"
}
undo_engine_network() {
  local table rule chain
  for link in docker0 docker_gwbridge; do ip link delete "$link" 2>/dev/null || true; done
  for table in filter nat; do
    { iptables -t "$table" -S | grep -E '^-A .*(DOCKER|docker0|docker_gwbridge)' || true; } | sed 's/^-A /-D /' | while read -r rule; do
      # shellcheck disable=SC2086 # a rule is words, as iptables -S printed them
      iptables -t "$table" $rule || true
    done
    for chain in DOCKER DOCKER-USER DOCKER-INGRESS DOCKER-ISOLATION-STAGE-1 DOCKER-ISOLATION-STAGE-2; do
      iptables -t "$table" -F "$chain" 2>/dev/null && iptables -t "$table" -X "$chain"
    done
  done
  iptables -P FORWARD "${engine_network_before#* }"
  sysctl -qw "net.ipv4.ip_forward=${engine_network_before%% *}"
  ip link show docker0 >/dev/null 2>&1 && fail "docker0 is still there"
  iptables-save | grep -q -i docker && fail "iptables still has docker's rules: $(iptables-save | grep -i docker)"
  log "host networking as before the engine: no docker0, no docker chains, FORWARD ${engine_network_before#* }, ip_forward ${engine_network_before%% *}"
  engine_network_before=
}

# Runs the caller's finish on every exit, keeping the exit status: `trap cleanup EXIT`.
cleanup() {
  local status=$?
  set +e
  finish
  exit $status
}

# Sets DOCKER and engine_version; starts dockerd when none answers (engine_pid then says which to stop), with
# the arguments given (e.g. --seccomp-profile FILE).
engine_up() {
  if ! command -v dockerd >/dev/null && ! command -v docker >/dev/null; then
    log "no Docker engine: apt-get install docker.io"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null
  fi
  DOCKER=$(pick_cli)
  [ -n "$DOCKER" ] || { log "no docker CLI with BuildKit: apt-get install docker.io"; apt-get install -y -qq --no-install-recommends docker.io >/dev/null; DOCKER=$(pick_cli); }
  [ -n "$DOCKER" ] || fail "no docker CLI that can build with BuildKit (install docker-buildx, or set DOCKER)"
  export DOCKER_BUILDKIT=1
  if ! "$DOCKER" info >/dev/null 2>&1; then
    command -v dockerd >/dev/null || { log "apt-get install docker.io"; apt-get install -y -qq --no-install-recommends docker.io >/dev/null; }
    log "no engine running: starting dockerd${*:+ $*} (log: $work/dockerd.log)"
    record_engine_network
    setsid dockerd --pidfile "$work/dockerd.pid" "$@" >"$work/dockerd.log" 2>&1 &
    engine_pid=$!
    for _ in $(seq 150); do "$DOCKER" info >/dev/null 2>&1 && break; kill -0 "$engine_pid" 2>/dev/null || break; sleep 0.2; done
    "$DOCKER" info >/dev/null 2>&1 || { tail -20 "$work/dockerd.log" >&2; fail "dockerd did not come up"; }
  fi
  engine_version=$("$DOCKER" version --format '{{.Server.Version}}')
  log "engine: Docker $engine_version, CLI $DOCKER ($("$DOCKER" version --format '{{.Client.Version}}'))"
}

engine_down() {
  log "stopping the dockerd this script started (pid $engine_pid)"
  local children
  children=$(cat /proc/"$engine_pid"/task/*/children 2>/dev/null)
  kill "$engine_pid" 2>/dev/null
  for _ in $(seq 100); do kill -0 "$engine_pid" 2>/dev/null || break; sleep 0.2; done
  kill -0 "$engine_pid" 2>/dev/null && fail "dockerd $engine_pid is still running 20 s after SIGTERM"
  for child in $children; do
    for _ in $(seq 50); do kill -0 "$child" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$child" 2>/dev/null && fail "dockerd's child $child ($(tr '\0' ' ' </proc/"$child"/cmdline)) outlived it"
  done
  engine_pid=
  if [ -n "$engine_network_before" ]; then undo_engine_network; fi
}

# Docker Hub answers /v2/ with a 401; where it cannot be reached (and no mirror is configured), a pull would only
# retry for minutes.
hub_reachable() {
  curl -s -o /dev/null --max-time 15 https://registry-1.docker.io/v2/ ||
    [ -n "$("$DOCKER" info --format '{{join .RegistryConfig.Mirrors ""}}' 2>/dev/null)" ]
}

# pull_or IMAGE: true when IMAGE is here or could be pulled.
pull_or() { "$DOCKER" image inspect "$1" >/dev/null 2>&1 || { hub_reachable && "$DOCKER" pull -q "$1" >/dev/null; }; }

REAL_BASE=node:24-trixie-slim
STANDIN_BASE=prebake-base:24-trixie-slim
# Sets base: node:24-trixie-slim when it can be pulled, else a stand-in (scripts/docker-base.sh), built once.
pick_base() {
  if pull_or "$REAL_BASE"; then
    base=$REAL_BASE
  elif "$DOCKER" image inspect "$STANDIN_BASE" >/dev/null 2>&1; then
    base=$STANDIN_BASE
    log "$REAL_BASE cannot be pulled: reusing the stand-in $base"
  else
    log "$REAL_BASE cannot be pulled: building a stand-in"
    base=$(DOCKER=$DOCKER bash scripts/docker-base.sh "$STANDIN_BASE")
  fi
  log "base: $base ($("$DOCKER" image inspect -f '{{.Size}}' "$base" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
}

# build_prebake IMAGE: prebake's image from this checkout (NODE_EXTRA_CA_CERTS, when set, is the build secret
# extra-ca; NO_CACHE=1 builds without the cache).
build_prebake() {
  local args=(--build-arg "BASE=$base" -t "$1") started
  [ -n "${NO_CACHE:-}" ] && args+=(--no-cache)
  [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && args+=(--secret "id=extra-ca,src=$NODE_EXTRA_CA_CERTS")
  log "docker build ${args[*]} ."
  started=$(date +%s)
  # BuildKit 0.8 (Docker 20.10) on this kernel's overlayfs failed a COPY now and then with "failed to copy file
  # info: failed to chown ...: no such file or directory", and passed on the next try: retried, twice at most.
  for attempt in 1 2 3; do
    "$DOCKER" build --progress=plain "${args[@]}" . >"$work/build.log" 2>&1 && break
    grep -q 'failed to copy file info' "$work/build.log" && [ "$attempt" -lt 3 ] || { tail -40 "$work/build.log" >&2; fail "docker build failed"; }
    log "docker build hit BuildKit's 'failed to copy file info' (attempt $attempt): again"
  done
  log "built in $(( $(date +%s) - started )) s; image $1: $("$DOCKER" image inspect -f '{{.Size}}' "$1" | awk '{ printf "%.0f MB", $1 / 1e6 }')"
}
