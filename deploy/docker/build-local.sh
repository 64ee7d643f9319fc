#!/usr/bin/env bash
# Builds shoal's image (the top-level Dockerfile) on a Docker engine that reaches no
# registry:
#
# 1. The base image, once: `debootstrap --variant=minbase bookworm` into a directory
#    (from a Debian mirror, which apt reaches even where Docker Hub is blocked), trimmed
#    and loaded with `docker import`. It stays tagged as $SHOAL_BASE_IMAGE, so later runs
#    skip this step.
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
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

log() { printf 'build-local: %s\n' "$*" >&2; }

make_base() {
    command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
    local rootfs
    rootfs=$(mktemp -d "${TMPDIR:-/tmp}/shoal-rootfs.XXXXXX")
    # shellcheck disable=SC2064 # expand now: the variable is local
    trap "as_root rm -rf '$rootfs'" EXIT
    log "debootstrap --variant=minbase bookworm from $mirror (once; about a minute)"
    as_root debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >&2
    # What a container never uses: package lists and caches, docs, man pages, locales.
    as_root rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
        "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/usr/share/doc/* \
        "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/var/log/*.log
    find "$rootfs"/usr/share/locale -mindepth 1 -maxdepth 1 ! -name 'locale.alias' \
        -exec rm -rf {} + 2>/dev/null || true
    # `docker import` keeps no environment, so PATH is set as debian's images set it.
    as_root tar -C "$rootfs" --numeric-owner -c . |
        docker import \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'CMD ["/bin/bash"]' \
            --message "debootstrap --variant=minbase bookworm" - "$base" >/dev/null
    as_root rm -rf "$rootfs"
    trap - EXIT
    log "base image $base: $(docker image inspect -f '{{.Size}}' "$base") bytes"
}

if [ "${SHOAL_REBASE:-0}" = 1 ] || ! docker image inspect "$base" >/dev/null 2>&1; then
    make_base
else
    log "base image $base present"
fi

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
