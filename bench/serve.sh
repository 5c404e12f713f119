#!/usr/bin/env bash
# Measures `spanlint serve` on loopback: spans/s accepted (checked, and recorded and queued for
# forwarding when those are on) from concurrent OTLP/HTTP clients posting real spans.
#
#   bench/serve.sh                      # 200,000 spans, 8 clients
#   SPANS=50000 CLIENTS=4 bench/serve.sh
#
# Each scenario starts a release `spanlint serve` on a free port with --max-spans, runs
# examples/serve_load.rs against it, and prints the rate seen by the clients (a request is
# answered only after the pipeline took it). A measurement, not a test.
set -euo pipefail
cd "$(dirname "$0")/.."

spans=${SPANS:-200000}
clients=${CLIENTS:-8}
dir=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$dir"
}
trap cleanup EXIT

cargo build --quiet --release --bin spanlint --example serve_load
spanlint=target/release/spanlint
load=target/release/examples/serve_load

# start NAME ARGS...: starts `spanlint serve` in the background; sets $url (its base URL).
start() {
    local name=$1
    shift
    "$spanlint" serve --isolated --no-grpc --listen 127.0.0.1:0 --no-coverage --fail-on never \
        "$@" >"$dir/$name.out" 2>"$dir/$name.err" &
    pids+=("$!")
    for _ in $(seq 100); do
        url=$(grep -o 'http://127.0.0.1:[0-9]*' "$dir/$name.err" | head -1 || true)
        [ -n "$url" ] && return
        sleep 0.1
    done
    echo "spanlint serve did not start: $(cat "$dir/$name.err")" >&2
    exit 1
}

# run LABEL ARGS...: one scenario; prints a table row.
run() {
    local label=$1
    shift
    start front --max-spans "$spans" "$@"
    local sent seconds busy
    read -r sent seconds busy < <("$load" "$url/v1/traces" "$spans" "$clients")
    wait "${pids[-1]}" || true
    local received
    received=$(grep -o 'received: *[0-9]* requests\?, [0-9]* spans\?' "$dir/front.out" | grep -o '[0-9]* spans\?' | cut -d' ' -f1)
    awk -v l="$label" -v n="$sent" -v s="$seconds" -v b="$busy" -v r="$received" \
        'BEGIN { printf "| %-40s | %8d | %8d | %6.2f | %8.0f | %6d |\n", l, n, r, s, n / s, b }'
}

echo
echo "spanlint $($spanlint --version | cut -d' ' -f2), $(nproc) cores, $(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD), $clients clients"
echo
echo "| scenario                                 |     sent | received |      s |  spans/s |  503s |"
echo "|------------------------------------------|----------|----------|--------|----------|-------|"
run "check"
run "check + record" --record "$dir/record.jsonl"
start upstream --max-spans "$spans"
run "check + record + forward --migrate" --record "$dir/record2.jsonl" --forward "$url" --migrate
