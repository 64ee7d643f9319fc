# Shared by scripts/run and scripts/test: installs what a fresh Debian machine lacks.
# Sourced, not executed.

# Runs a command as root: directly when we are root, else through sudo.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "need root to run: $*" >&2
        return 1
    fi
}

# Installs the given Debian packages, with one apt-get update first.
apt_install() {
    [ "$#" -gt 0 ] || return 0
    echo "installing: $*" >&2
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
}

# A Rust toolchain with clippy and rustfmt, through rustup when cargo is missing.
ensure_rust() {
    if [ -f "$HOME/.cargo/env" ]; then
        # shellcheck disable=SC1091
        . "$HOME/.cargo/env"
    fi
    if ! command -v cargo >/dev/null 2>&1; then
        local need=()
        command -v curl >/dev/null 2>&1 || need+=(curl)
        command -v cc >/dev/null 2>&1 || need+=(build-essential)
        [ -e /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates)
        apt_install "${need[@]}"
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
            sh -s -- -y --profile minimal --component clippy,rustfmt
        # shellcheck disable=SC1091
        . "$HOME/.cargo/env"
    fi
    # jemalloc is built from C source, so a C compiler is needed even with cargo.
    command -v cc >/dev/null 2>&1 || apt_install build-essential
    if command -v rustup >/dev/null 2>&1; then
        cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
        cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
    fi
}
