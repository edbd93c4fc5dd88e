# The prebake daemon on Debian 13 (trixie), with Debian 13's own criu (>= 4.1). See docs/DAEMON.md, "Docker".
# Needs BuildKit (RUN --mount): the default builder since Docker 23; on Docker 20.10 set DOCKER_BUILDKIT=1.
#   DOCKER_BUILDKIT=1 docker build -t prebake .
#   (behind a TLS-intercepting proxy: add --secret id=extra-ca,src="$NODE_EXTRA_CA_CERTS")
#   docker run -d --name prebake --privileged --tmpfs /run -v prebake-store:/var/lib/prebake \
#     -v /srv/functions:/functions:ro -p 127.0.0.1:8080:8080 --stop-timeout 45 prebake
# Where Docker Hub cannot be reached, scripts/docker-base.sh builds a stand-in base: --build-arg BASE=<its tag>.
ARG BASE=node:24-trixie-slim

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
# and mount for instances and criu's kernel-probe cache. The JDK's postinst links its man pages into
# /usr/share/man/man1, which -slim images leave out: without the directory, its configuration fails.
# The JDK's jmods (82 MB) only feed jlink, which prebake never runs; javac and java do not read them.
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends tini criu python3 default-jdk-headless util-linux mount \
 && rm -rf /usr/lib/jvm/*/jmods \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb /var/log/apt /var/log/dpkg.log
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
