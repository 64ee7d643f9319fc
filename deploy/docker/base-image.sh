#!/usr/bin/env bash
# Makes a Debian bookworm base image without a registry, once: `debootstrap
# --variant=minbase` from a Debian mirror into a temporary directory, trimmed of docs and
# package lists, then `docker import`. An image already tagged TAG is left alone (set
# SHOAL_REBASE=1 to redo it), so callers can run this every time.
#
# Usage: deploy/docker/base-image.sh TAG [PACKAGE,...]   (extra packages for --include)
# Environment: DEBIAN_MIRROR (default http://deb.debian.org/debian), SHOAL_REBASE=1.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib.sh

tag=${1:?usage: base-image.sh TAG [PACKAGE,...]}
include=${2:-}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
log() { printf 'base-image: %s\n' "$*" >&2; }

if [ "${SHOAL_REBASE:-0}" != 1 ] && docker image inspect "$tag" >/dev/null 2>&1; then
    log "$tag present"
    exit 0
fi
command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
rootfs=$(mktemp -d "${TMPDIR:-/tmp}/shoal-rootfs.XXXXXX")
trap 'as_root rm -rf "$rootfs"' EXIT
log "debootstrap --variant=minbase ${include:+--include=$include }bookworm from $mirror"
as_root debootstrap --variant=minbase ${include:+--include="$include"} bookworm "$rootfs" \
    "$mirror" >&2
# What a container never uses: package lists and caches, docs, man pages, locales.
as_root rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
    "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/usr/share/doc/* \
    "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/var/log/*.log
as_root find "$rootfs"/usr/share/locale -mindepth 1 -maxdepth 1 ! -name locale.alias \
    -exec rm -rf {} +
# `docker import` keeps no environment, so PATH is set as Debian's images set it.
as_root tar -C "$rootfs" --numeric-owner -c . |
    docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["/bin/bash"]' \
        --message "debootstrap --variant=minbase ${include:+--include=$include }bookworm" \
        - "$tag" >/dev/null
log "$tag: $(docker image inspect -f '{{.Size}}' "$tag") bytes"
