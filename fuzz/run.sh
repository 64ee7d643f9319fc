#!/usr/bin/env bash
# Runs each fuzz target for a bounded time, one after the other, on one core.
#
#   fuzz/run.sh                      every target, FUZZ_SECONDS (default 25) each
#   FUZZ_RUNS=10000000 fuzz/run.sh   every target for that many executions instead
#   fuzz/run.sh aof_load             one target
#   FUZZ_TIMEOUT=60                  seconds one input may take (default 10)
#
# The committed seeds in corpus/<target>/ are read, never written: what the fuzzer finds
# goes to work/<target>/ (ignored by git). A crash leaves its input in artifacts/<target>/
# and fails the script; reproduce it with
#   fuzz/target/x86_64-unknown-linux-gnu/release/<target> artifacts/<target>/crash-…
#
# Built with cargo-fuzz on stable Rust: no sanitizer (shoal has no unsafe code to check,
# and -Zsanitizer needs nightly), debug assertions on so overflows are found too.
set -euo pipefail
cd "$(dirname "$0")"
. ../scripts/lib.sh

# What a fresh machine lacks: cargo, a C++ compiler (libfuzzer-sys builds libFuzzer from
# source) and cargo-fuzz itself.
ensure_rust
command -v c++ >/dev/null 2>&1 || apt_install build-essential
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi

cargo fuzz build -O -a -s none

bin=target/x86_64-unknown-linux-gnu/release
status=0
for t in "${targets[@]}"; do
    mkdir -p "work/$t" "artifacts/$t"
    limit=(-max_total_time="${FUZZ_SECONDS:-25}")
    if [ -n "${FUZZ_RUNS:-}" ]; then
        limit=(-runs="$FUZZ_RUNS")
    fi
    extra=()
    if [ -f "dict/$t.dict" ]; then
        extra+=(-dict="dict/$t.dict")
    fi
    # Fed a byte at a time, an inline line is rescanned per byte (as Redis does): keep
    # inputs short enough that one run stays cheap.
    if [ "$t" = resp_request ]; then
        extra+=(-max_len=1024)
    fi
    echo "== $t"
    # -timeout: no single input may take 10 s (wall clock: FUZZ_TIMEOUT raises it on a
    # machine so loaded that a process waits seconds for a core); -rss_limit_mb: nor grow
    # without bound.
    if ! "$bin/$t" "work/$t" "corpus/$t" "${limit[@]}" "${extra[@]}" \
        -timeout="${FUZZ_TIMEOUT:-10}" -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="artifacts/$t/" 2>"work/$t.log"; then
        status=1
        # The end of the log holds the panic or abort and the crashing input's name.
        tail -n 40 "work/$t.log"
        echo "$t FAILED; see fuzz/work/$t.log and fuzz/artifacts/$t/"
    fi
    # The last status line and the final stats: executions, coverage and features.
    grep -E '^#[0-9]+.*(DONE|cov:)' "work/$t.log" | tail -1 || true
    grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "work/$t.log" || true
done
exit $status
