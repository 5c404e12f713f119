#!/usr/bin/env bash
# Scale without surprises (issue 7): one trace of 1,000,000 spans (a single chain, the deepest
# trace possible), one span with 100,000 attributes, 100,000 small files, each run at a quarter
# of the size too, so that the time and peak-memory ratios show linear (not quadratic) growth.
#
#   bench/scale.sh            # full sizes (a few minutes on 2 cores)
#   SCALE=10 bench/scale.sh   # sizes divided by 10
#
# Measurements, not tests: nothing here fails on a slow machine.
set -euo pipefail
cd "$(dirname "$0")/.."
div=${SCALE:-1}
dir=${BENCH_DIR:-$(mktemp -d)}
[ -n "${BENCH_DIR:-}" ] || trap 'rm -rf "$dir"' EXIT
cargo build --quiet --release --bin spanlint
spanlint=target/release/spanlint

run() { # LABEL N ARGS...
    local label=$1 n=$2
    shift 2
    /usr/bin/time -o "$dir/time" -f "%e %M" "$spanlint" check --fail-on never --quiet --format concise "$@" \
        >"$dir/out.json" 2>"$dir/err" || true
    local s kb
    read -r s kb <"$dir/time"
    printf '| %-22s | %9d | %7.2f | %8.0f |\n' "$label" "$n" "$s" "$((kb / 1024))"
}

echo "| case                   |         n |       s |  peak MB |"
echo "|------------------------|-----------|---------|----------|"
for n in $((250000 / div)) $((1000000 / div)); do
    python3 bench/scale.py trace "$n" "$dir/trace.jsonl"
    run "one trace, n spans" "$n" "$dir/trace.jsonl"
done
for n in $((25000 / div)) $((100000 / div)); do
    python3 bench/scale.py attributes "$n" "$dir/attrs.jsonl"
    run "one span, n attributes" "$n" "$dir/attrs.jsonl"
done
for n in $((25000 / div)) $((100000 / div)); do
    rm -rf "$dir/files"
    python3 bench/scale.py files "$n" "$dir/files"
    run "n small files" "$n" "$dir/files"
done
