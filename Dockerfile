# The prebake daemon on Debian 13 (trixie), with Debian 13's own criu (>= 4.1). See docs/DAEMON.md, "Docker".
#   docker build -t prebake .
#   docker run -d --name prebake --privileged --tmpfs /run -v prebake-store:/var/lib/prebake \
#     -v /srv/functions:/functions:ro -p 127.0.0.1:8080:8080 --stop-timeout 45 prebake
FROM node:24-trixie-slim

# tini as PID 1: it reaps orphaned processes and forwards SIGTERM to the daemon.
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY . .
# The same installer as on a host: criu, gcc for the native helpers, python3, a JDK, npm ci, native/build.sh.
RUN bash scripts/setup.sh && rm -rf /var/lib/apt/lists/* /root/.npm

ENV PATH=/opt/prebake/bin:$PATH \
    PREBAKE_HOME=/var/lib/prebake
VOLUME /var/lib/prebake
EXPOSE 8080
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--", "/app/bin/prebake", "serve", "--host", "0.0.0.0", "--port", "8080"]
