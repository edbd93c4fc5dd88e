# The prebake daemon on Debian 13 (trixie), with prebake's lean criu (4.1.1 from Debian 13's criu source package,
# static, with prebake's patches: docs/CRIU.md). See docs/DAEMON.md, "Docker".
# Needs BuildKit (RUN --mount): the default builder since Docker 23; on Docker 20.10 set DOCKER_BUILDKIT=1.
#   DOCKER_BUILDKIT=1 docker build -t prebake .
#   (behind a TLS-intercepting proxy: add --secret id=extra-ca,src="$NODE_EXTRA_CA_CERTS")
#   docker run -d --name prebake --privileged --cgroupns=host --tmpfs /run -v prebake-store:/var/lib/prebake \
#     -v /srv/functions:/functions:ro -p 127.0.0.1:8080:8080 --stop-timeout 45 prebake
# Where Docker Hub cannot be reached, scripts/docker-base.sh builds a stand-in base: --build-arg BASE=<its tag>.
ARG BASE=node:24-trixie-slim

# --- criu stage: the lean criu, built by the script setup.sh builds it with; compilers and -dev packages stay here --
FROM ${BASE} AS criu
WORKDIR /src
COPY scripts/build-lean-criu.sh scripts/
# The base is Debian 13, so its archive's criu source package is Debian 13's. A base may come without a deb-src
# line (the stand-in from docker-base.sh has none): one is added here, in a stage that is thrown away. apt checks
# each file it downloads against the Sources index; only the upstream tarball is used (Debian's packaging builds
# the full-featured criu), and apt fails when a mirror does not serve the .dsc or the debian tarball: hence
# `|| true`, then the check that the tarball came. Like the other stages' apt, over http: no CA needed.
RUN set -eu; \
    echo 'deb-src http://deb.debian.org/debian trixie main' >/etc/apt/sources.list.d/criu-source.list; \
    apt-get update -qq; \
    apt-get install -y -qq --no-install-recommends $(bash scripts/build-lean-criu.sh --build-deps) >/dev/null; \
    version=$(apt-cache showsrc criu | awk '/^Version:/ { print $2; exit }'); \
    mkdir -p /src/criu-source; cd /src/criu-source; \
    apt-get source -qq --download-only "criu=$version" >/dev/null 2>&1 || true; \
    ls criu_*.orig.tar.* >/dev/null 2>&1 || { echo "criu's source (Debian 13 package $version) could not be downloaded" >&2; exit 1; }; \
    echo "Debian 13 source package criu $version" >description
COPY native/criu native/criu
RUN bash scripts/build-lean-criu.sh criu-source/criu_*.orig.tar.* /opt/prebake/criu-lean /run/prebake-criu \
      "$(cat criu-source/description)"

# --- build stage: production dependencies and the native helpers; gcc and npm's cache stay here -----------
FROM ${BASE} AS build
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends gcc libc6-dev
WORKDIR /app
COPY package.json package-lock.json ./
# The extra CA bundle (a TLS-intercepting proxy's) is a build secret: mounted for this step only, never in a
# layer. npm's output is kept, and when it fails the end of its debug log too: a certificate or network error
# can end in nothing more than "Exit handler never called!" on the console.
RUN --mount=type=secret,id=extra-ca \
    if [ -s /run/secrets/extra-ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/extra-ca; fi; \
    npm ci --omit=dev --no-audit --no-fund --loglevel=warn || { \
      log=$(ls /root/.npm/_logs/*-debug-0.log | tail -n 1); echo "npm ci failed; from $log:"; \
      grep -E 'failed with |verbose stack ' "$log" | head -n 5; grep -E ' (error|warn) ' "$log" | tail -n 10; exit 1; }
COPY native native
RUN bash native/build.sh

# --- the daemon: runtimes, criu and prebake, no compiler but the JDK's javac (Java functions compile at build) --
FROM ${BASE}
# tini as PID 1: it reaps orphaned processes and forwards SIGTERM to the daemon. util-linux and mount: unshare
# and mount for instances and criu's kernel-probe cache; iproute2: criu's `ip addr/route save` and `restore` of an
# instance's own network namespace ("none", "outbound"); slirp4netns: the "outbound" network's helper (it opens
# /dev/net/tun, which the container must be given). No Debian criu: the lean one (below) needs no library,
# and nothing in prebake runs another unless PREBAKE_CRIU names it. The JDK's postinst links its man pages into
# /usr/share/man/man1, which -slim images leave out: without the directory, its configuration fails.
# The JDK's jmods (82 MB) only feed jlink, which prebake never runs; javac and java do not read them.
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends tini python3 default-jdk-headless util-linux mount iproute2 slirp4netns \
 && rm -rf /usr/lib/jvm/*/jmods \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb /var/log/apt /var/log/dpkg.log
# The lean criu where setup.sh puts it: prebake runs /opt/prebake/bin/criu (src/paths.ts) and reads build.json
# beside the file it resolves to (which build, its kernel-probe cache /run/prebake-criu/criu.kdat, its patches).
COPY --from=criu /opt/prebake/criu-lean /opt/prebake/criu-lean
RUN mkdir -p /opt/prebake/bin && ln -s ../criu-lean/criu /opt/prebake/bin/criu
WORKDIR /app
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/native/build native/build
COPY package.json package-lock.json ./
COPY bin bin
COPY src src
# Fill Node's compile cache once, so that the first `prebake` command in a container starts as fast as the next.
RUN bin/prebake --help >/dev/null

ENV PATH=/app/bin:$PATH \
    PREBAKE_HOME=/var/lib/prebake
VOLUME /var/lib/prebake
EXPOSE 8080
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--", "/app/bin/prebake", "serve", "--host", "0.0.0.0", "--port", "8080"]
