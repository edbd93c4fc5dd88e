#!/usr/bin/env bash
# Builds prebake's lean criu from criu's source tarball into OUT_DIR (OUT_DIR/criu and OUT_DIR/build.json):
# linked statically, without gnutls and nftables (prebake uses neither), with prebake's own patches
# (native/criu/*.patch, applied in name order), and with its kernel-probe cache under KDAT_DIR. Used by
# scripts/setup.sh and the Dockerfile; the build dependencies must be installed (--build-deps lists them).
#   scripts/build-lean-criu.sh SOURCE_TARBALL OUT_DIR KDAT_DIR "WHERE THE SOURCE CAME FROM"
#   scripts/build-lean-criu.sh --patches-sha256     the patch set's fingerprint, as build.json records it
#   scripts/build-lean-criu.sh --build-deps         the Debian packages the build needs (setup.sh, Dockerfile)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
patches=("$here"/native/criu/*.patch)
patches_sha256() { cat "${patches[@]}" | sha256sum | cut -c1-16; }
if [ "${1:-}" = --patches-sha256 ]; then patches_sha256; exit 0; fi
# The static libraries come with the -dev packages; xz-utils unpacks Debian's .orig.tar.xz.
if [ "${1:-}" = --build-deps ]; then
  echo gcc libc6-dev make patch pkg-config xz-utils libprotobuf-c-dev protobuf-c-compiler libprotobuf-dev \
    libnl-3-dev libnet1-dev libcap-dev uuid-dev
  exit 0
fi
[ $# = 4 ] || { echo "usage: $0 SOURCE_TARBALL OUT_DIR KDAT_DIR SOURCE_DESCRIPTION" >&2; exit 2; }
tarball=$1 out=$2 kdat_dir=$3 source_description=$4

work=$(mktemp -d)
trap 'rm -rf "$work" "$out.new"' EXIT
mkdir "$work/src" && tar -xf "$tarball" -C "$work/src" --strip-components=1
cd "$work/src"
# SOURCE_DATE_EPOCH becomes the kdat cache's second magic: the tarball's date plus a number from the patch set's
# fingerprint, so that rebuilding the same source with the same patches keeps a cache valid, while a patch that
# adds a kdat field (0002) makes the caches of earlier builds stale: criu checks the cache's size, and a new
# bool can fit in the struct's padding, where an old cache holds a zero. Read before patching, which changes
# files' times.
epoch=$(( $(stat -c %Y Makefile) + 0x$(patches_sha256 | cut -c1-6) ))
names=()
for patch in "${patches[@]}"; do
  patch -p1 --forward --quiet <"$patch" >"$work/patch.log" 2>&1 \
    || { echo "$(basename "$patch") does not apply to $source_description:" >&2; cat "$work/patch.log" >&2; exit 1; }
  names+=("\"$(basename "$patch" .patch)\"")
done
# GMONLDOPT reaches only the final link of criu itself: LDFLAGS would also reach criu's parasite blobs,
# which compel refuses to process when linked statically. RUNDIR: criu 4.1 compiles its cache path in, and
# deletes a cache written by another build as stale, so the host's own criu keeps /run/criu.kdat to itself.
SOURCE_DATE_EPOCH=$epoch make -j"$(nproc)" criu NO_GNUTLS=1 RUNDIR="$kdat_dir" GMONLDOPT=-static WERROR=0 >"$work/build.log" 2>&1 \
  || { tail -20 "$work/build.log" >&2; exit 1; }
rm -rf "$out.new" && mkdir -p "$out.new"
strip -o "$out.new/criu" criu/criu
"$out.new/criu" --version >/dev/null || { echo "the lean criu does not run" >&2; exit 1; }
version=$("$out.new/criu" --version | awk '/Version:/ { print $2 }')
joined=$(IFS=,; echo "${names[*]}")
cat >"$out.new/build.json" <<JSON
{ "build": "lean", "version": "$version", "source": "$source_description", "linked": "static", "without": ["gnutls", "nftables"], "patches": [${joined//,/, }], "patchesSha256": "$(patches_sha256)", "kdatFile": "$kdat_dir/criu.kdat", "builtAt": "$(date -u +%FT%TZ)" }
JSON
rm -rf "$out" && mv "$out.new" "$out"
