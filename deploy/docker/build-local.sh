#!/usr/bin/env bash
# Builds shoal's image (the top-level Dockerfile) on a Docker engine that reaches no
# registry:
#
# 1. The base image, once (deploy/docker/base-image.sh): `debootstrap --variant=minbase
#    bookworm` into a directory (from a Debian mirror, which apt reaches even where
#    Docker Hub is blocked), trimmed and loaded with `docker import`. It stays tagged as
#    $SHOAL_BASE_IMAGE, so later runs skip this step.
# 2. The binary: `cargo build --release -p shoal` on the host (or $SHOAL_BINARY), staged
#    with its debug sections compressed at target/docker/shoal, the one file of target/
#    the build context keeps.
# 3. `docker build` with that base as both BUILDER_IMAGE and RUNTIME_IMAGE and
#    PREBUILT=target/docker/shoal, so no Rust toolchain is needed in any image. The
#    Dockerfile's steps are otherwise the ones a registry user runs.
#
# Usage: deploy/docker/build-local.sh [TAG]        (default shoal:local)
# Environment:
#   SHOAL_BASE_IMAGE  tag of the imported base (default shoal-local/bookworm-minbase:1)
#   DEBIAN_MIRROR     mirror for debootstrap (default http://deb.debian.org/debian)
#   SHOAL_BINARY      a shoal binary to use instead of building target/release/shoal
#   SHOAL_REBASE=1    rebuild the base image even if it exists
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib.sh

tag=${1:-shoal:local}
base=${SHOAL_BASE_IMAGE:-shoal-local/bookworm-minbase:1}

log() { printf 'build-local: %s\n' "$*" >&2; }

deploy/docker/base-image.sh "$base"

if [ -n "${SHOAL_BINARY:-}" ]; then
    bin=$SHOAL_BINARY
else
    ensure_rust
    log "cargo build --release -p shoal"
    cargo build --release --locked -p shoal
    bin=$(cargo metadata --format-version 1 --no-deps |
        sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release/shoal
fi
[ -x "$bin" ] || { log "no shoal binary at $bin"; exit 1; }
command -v objcopy >/dev/null 2>&1 || apt_install binutils
mkdir -p target/docker
# The line tables stay (panics name their line) but compressed, as the Dockerfile's own
# build does. Replaced only when it changed, so an unchanged binary keeps Docker's layer
# cache warm.
objcopy --compress-debug-sections=zlib "$bin" target/docker/shoal.new
if cmp -s target/docker/shoal.new target/docker/shoal; then
    rm target/docker/shoal.new
else
    mv target/docker/shoal.new target/docker/shoal
fi

log "docker build -t $tag"
# The legacy builder is what a Docker engine without buildx has; it builds every stage,
# which is why the build stage takes the binary instead of being skipped.
docker build --quiet \
    --build-arg BUILDER_IMAGE="$base" \
    --build-arg RUNTIME_IMAGE="$base" \
    --build-arg PREBUILT=target/docker/shoal \
    -t "$tag" . >/dev/null
log "image $tag: $(docker image inspect -f '{{.Size}}' "$tag") bytes"
