#!/usr/bin/env bash
# Fuzzes the parsers patients and VoIP.ms can reach (fuzz/fuzz_targets/), each for a bounded time,
# and prints one line per target. Fails on any crash, hang, or broken property (fuzz/README.md).
# Installs cargo-fuzz when missing. Stable Rust: cargo-fuzz needs -Z flags, so RUSTC_BOOTSTRAP=1.
#
#   FUZZ_SECONDS=30        time per target
#   FUZZ_TARGETS="a b"     which targets (default: all of them)
#   FUZZ_SANITIZER=none    none (default: the code under test is safe Rust) or address
#   FUZZ_RSS_MB=512        libFuzzer's memory limit
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds=${FUZZ_SECONDS:-30}
sanitizer=${FUZZ_SANITIZER:-none}
rss_mb=${FUZZ_RSS_MB:-512}
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz (takes ~2 minutes once)"
    cargo install cargo-fuzz --locked
fi

targets=${FUZZ_TARGETS:-$(cargo fuzz list)}

echo "== building fuzz targets (sanitizer: $sanitizer)"
build_start=$(date +%s)
cargo fuzz build --sanitizer "$sanitizer"
echo "built in $(($(date +%s) - build_start)) s"

mkdir -p target/fuzz-logs
failed=()
summary=()
for target in $targets; do
    # New inputs go to a scratch corpus under target/; the committed seeds stay as they are.
    work=target/fuzz-corpus/$target
    log=target/fuzz-logs/$target.log
    mkdir -p "$work" "corpus/$target"
    echo "== $target (${seconds} s)"
    rc=0
    cargo fuzz run --sanitizer "$sanitizer" "$target" "$work" "corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb="$rss_mb" -timeout=10 \
        -print_final_stats=1 >"$log" 2>&1 || rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
    corp=$(grep -Eo 'corp: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
    if [ "$rc" -eq 0 ]; then
        status=ok
    else
        status=FAILED
        failed+=("$target")
        # The property that broke, the input, and how to reproduce it.
        grep -E -A2 "panicked at|ERROR: libFuzzer|SUMMARY" "$log" | head -20 || true
        grep -E "Test unit written to|cargo fuzz (run|tmin)" "$log" || tail -20 "$log"
    fi
    line=$(printf '%-16s %-6s %10s runs %8s/s  cov %-5s corpus %s' \
        "$target" "$status" "${runs:-?}" "${speed:-?}" "${cov:-?}" "${corp:-?}")
    echo "$line"
    summary+=("$line")
done

echo
echo "== fuzz summary (${seconds} s per target, logs in fuzz/target/fuzz-logs/)"
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "FAILED: ${failed[*]} (crashing inputs in fuzz/artifacts/<target>/)" >&2
    exit 1
fi
