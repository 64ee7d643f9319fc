# shoal's container image: `shoal` runs as PID 1 (it reaps every child and stops its
# shards on SIGTERM itself, so no init or shell sits in front of it).
#
#   docker build -t shoal .
#   docker run -d --name shoal -p 6379:6379 -p 8070:8070 -v shoal-data:/data \
#       -e SHOAL_PASSWORD=change-me shoal
#
# With no registry at hand, deploy/docker/build-local.sh builds the same image from a
# base image made with debootstrap and a binary cargo has already built; it sets the
# three arguments below.

# The Rust toolchain that compiles shoal (any Debian bookworm image with cargo and a C
# compiler for jemalloc).
ARG BUILDER_IMAGE=rust:1.95-bookworm
# The image shoal runs in: glibc, nothing else is needed.
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${BUILDER_IMAGE} AS build
WORKDIR /src
COPY . .
# A path inside the build context to a `shoal` binary built outside (build-local.sh
# stages one at target/docker/shoal); empty means compile here. The release profile
# keeps line tables so that a panic's backtrace names the line; compressing them
# halves the binary without losing that.
ARG PREBUILT=
RUN if [ -n "$PREBUILT" ]; then \
        install -m 0755 "$PREBUILT" /usr/local/bin/shoal; \
    else \
        cargo build --release --locked -p shoal \
        && install -m 0755 target/release/shoal /usr/local/bin/shoal \
        && objcopy --compress-debug-sections=zlib /usr/local/bin/shoal; \
    fi \
    && /usr/local/bin/shoal --version

FROM ${RUNTIME_IMAGE}
# A fixed numeric uid, so Kubernetes' runAsNonRoot can check it and fsGroup can match it.
RUN groupadd --system --gid 10001 shoal \
    && useradd --system --uid 10001 --gid shoal --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin shoal \
    && mkdir -p /data /etc/shoal \
    && chown shoal:shoal /data
COPY --from=build /usr/local/bin/shoal /usr/local/bin/shoal
COPY deploy/docker/shoal.toml /etc/shoal/shoal.toml
ENV SHOAL_CONFIG=/etc/shoal/shoal.toml
# A new named volume copies this directory's owner, so the shards can write to it.
VOLUME ["/data"]
WORKDIR /data
USER 10001:10001
# 6379: the default database (shard i of a database also listens on its port + i);
# 8070: /livez /readyz /status /metrics.
EXPOSE 6379 8070
# The agent's graceful stop: sync every AOF, stop the shards, exit 0 within
# shutdown_timeout (8 s in /etc/shoal/shoal.toml, under docker stop's 10 s).
STOPSIGNAL SIGTERM
# Healthy once every shard has loaded its AOF and answers; a long AOF load counts
# against start-period, not against retries.
HEALTHCHECK --interval=5s --timeout=3s --start-period=300s --retries=3 \
    CMD ["shoal", "health"]
ENTRYPOINT ["/usr/local/bin/shoal"]
CMD ["run"]
