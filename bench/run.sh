#!/usr/bin/env bash
# Benchmarks spanlint on generated dumps and prints MB/s, spans/s and peak memory.
#
#   bench/run.sh              # 1000 MB dumps (takes a few minutes on 2 cores)
#   SIZE_MB=100 bench/run.sh  # quicker
#   RUNS=1 bench/run.sh       # one run a row instead of the median of three
#   SCALE=10 bench/run.sh     # also runs bench/scale.sh (issue 7 cases), sizes divided by 10
#
# Dumps are generated from fixtures/real/ by examples/gen_dump.rs into $BENCH_DIR (default: a
# temporary directory, removed at the end; a BENCH_DIR that already holds dumps of this size
# from an earlier run is reused). The floor is serde_json deserialising each line of
# the same JSON-lines dump into IgnoredAny on one core (examples/json_floor.rs). Timings are
# measurements, not tests: nothing here fails on a slow machine.
set -euo pipefail
cd "$(dirname "$0")/.."

size_mb=${SIZE_MB:-1000}
dir=${BENCH_DIR:-$(mktemp -d)}
[ -n "${BENCH_DIR:-}" ] || trap 'rm -rf "$dir"' EXIT

cargo build --quiet --release --bin spanlint --example gen_dump --example json_floor
bin=target/release
spanlint=$bin/spanlint

# generate NAME FORMAT: writes $dir/NAME unless a kept BENCH_DIR already has it at this size
# (gen_dump is deterministic); prints gen_dump's "SPANS BYTES" (bytes before compression: MB/s
# is over the data read), remembered in NAME.count next to the dump.
generate() {
    local name=$1 format=$2 count="$dir/$1.count"
    if [ -n "${BENCH_DIR:-}" ] && [ -f "$dir/$name" ] && [ "$(cut -d' ' -f3 "$count" 2>/dev/null)" = "$size_mb" ]; then
        cut -d' ' -f1,2 "$count"
        return
    fi
    echo "generating $name (${size_mb} MB) in $dir ..." >&2
    local spans bytes
    read -r spans bytes < <($bin/examples/gen_dump "$format" "$size_mb" "$dir/$name")
    echo "$spans $bytes $size_mb" > "$count"
    echo "$spans $bytes"
}
read -r spans_jsonl bytes_jsonl < <(generate dump.jsonl jsonl)
read -r spans_binpb bytes_binpb < <(generate dump.binpb binpb)
read -r spans_zst bytes_zst < <(generate dump.jsonl.zst jsonl)

# run LABEL FILE SPANS BYTES ARGS...: $RUNS timed runs (default 3); prints a table row with the
# median time and the largest peak memory (one run of a 1 GB migrate varies by 10% here, with
# the page cache writing back the previous run's output).
runs=${RUNS:-3}
run() {
    local label=$1 file=$2 spans=$3 bytes=$4
    shift 4
    local times=() rss_kb=0 seconds kb
    for _ in $(seq "$runs"); do
        /usr/bin/time -o "$dir/time" -f "%e %M" "$@" >/dev/null 2>&1 || true
        read -r seconds kb < "$dir/time"
        times+=("$seconds")
        ((kb > rss_kb)) && rss_kb=$kb
    done
    seconds=$(printf '%s\n' "${times[@]}" | sort -n | awk '{ t[NR] = $1 } END { print t[int((NR + 1) / 2)] }')
    # The MB/s of the last row, for the check/floor ratio.
    last_mbps=$(awk -v s="$seconds" -v b="$bytes" 'BEGIN { printf "%.1f", b / 1e6 / s }')
    awk -v l="$label" -v f="$(basename "$file")" -v s="$seconds" -v b="$bytes" -v n="$spans" -v r="$rss_kb" \
        'BEGIN { m = b / 1e6; printf "| %-26s | %-16s | %6.0f | %7.2f | %7.1f | %10.0f | %7.0f |\n", l, f, m, s, m / s, n / s, r / 1024 }'
}

floor=$($bin/examples/json_floor "$dir/dump.jsonl" 2>/dev/null)
# A tiny dump (one small real fixture, 2.2 KB) end to end, best of 20 runs.
tiny=fixtures/real/openai-v2-error.jsonl
tiny_ms=$(for _ in $(seq 20); do
    start=$(date +%s%N)
    "$spanlint" check --fail-on never --format json "$tiny" >/dev/null 2>&1 || true
    echo $(($(date +%s%N) - start))
done | sort -n | head -1 | awk '{ printf "%.1f", $1 / 1e6 }')

echo
echo "spanlint $($spanlint --version | cut -d' ' -f2), $(nproc) cores, $(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD)"
echo
echo "| command                    | input            |     MB |       s |    MB/s |    spans/s | peak MB |"
echo "|----------------------------|------------------|--------|---------|---------|------------|---------|"
run "check (json report)" "$dir/dump.jsonl" "$spans_jsonl" "$bytes_jsonl" "$spanlint" check --fail-on never --format json "$dir/dump.jsonl"
run "check (json report)" "$dir/dump.binpb" "$spans_binpb" "$bytes_binpb" "$spanlint" check --fail-on never --format json "$dir/dump.binpb"
run "check (json report)" "$dir/dump.jsonl.zst" "$spans_zst" "$bytes_zst" "$spanlint" check --fail-on never --format json "$dir/dump.jsonl.zst"
run "check (jsonl report)" "$dir/dump.jsonl" "$spans_jsonl" "$bytes_jsonl" "$spanlint" check --fail-on never --format jsonl "$dir/dump.jsonl"
run "check (junit report)" "$dir/dump.binpb" "$spans_binpb" "$bytes_binpb" "$spanlint" check --fail-on never --format junit "$dir/dump.binpb"
run "check (--quiet)" "$dir/dump.jsonl" "$spans_jsonl" "$bytes_jsonl" "$spanlint" check --fail-on never --quiet "$dir/dump.jsonl"
quiet_jsonl_mbps=$last_mbps
run "check (--quiet)" "$dir/dump.binpb" "$spans_binpb" "$bytes_binpb" "$spanlint" check --fail-on never --quiet "$dir/dump.binpb"
run "migrate json→json" "$dir/dump.jsonl" "$spans_jsonl" "$bytes_jsonl" "$spanlint" migrate -o "$dir/out.jsonl" "$dir/dump.jsonl"
run "migrate proto→proto" "$dir/dump.binpb" "$spans_binpb" "$bytes_binpb" "$spanlint" migrate -o "$dir/out.binpb" "$dir/dump.binpb"
run "coverage (json)" "$dir/dump.jsonl" "$spans_jsonl" "$bytes_jsonl" "$spanlint" coverage --format json "$dir/dump.jsonl"
run "coverage (json)" "$dir/dump.binpb" "$spans_binpb" "$bytes_binpb" "$spanlint" coverage --format json "$dir/dump.binpb"
rm -f "$dir/out.jsonl" "$dir/out.binpb"
echo
echo "floor (serde_json IgnoredAny per line, 1 core): ${floor} MB/s on dump.jsonl"
# What the disk allows `migrate`, which syncs its output before renaming it over the target:
# the JSON-lines dump copied and synced by dd.
/usr/bin/time -o "$dir/time" -f "%e" dd if="$dir/dump.jsonl" of="$dir/dd.out" bs=4M conv=fsync 2>/dev/null
read -r disk_s < "$dir/time"
rm -f "$dir/dd.out"
echo "disk (dd, 1 copy of dump.jsonl written and synced): $(awk -v s="$disk_s" -v b="$bytes_jsonl" 'BEGIN { printf "%.1f", b / 1e6 / s }') MB/s"
echo "check --quiet / floor on dump.jsonl: $(awk -v c="$quiet_jsonl_mbps" -v f="$floor" 'BEGIN { printf "%.2f", c / f }') (target ≥ 0.5)"
echo "2 KB dump ($tiny) end to end: ${tiny_ms} ms (best of 20)"
if [ -n "${SCALE:-}" ]; then
    echo
    SCALE=$SCALE BENCH_DIR="$dir" bench/scale.sh
fi
