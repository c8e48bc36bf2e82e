#!/usr/bin/env bash
# A long run of the fuzz targets (not part of CI): each target in turn, from its committed corpus,
# until RUNS executions (default 10 million) or MAX_TIME seconds (default 1800), one job, with
# libFuzzer's final statistics; prints a Markdown row per target (executions, time, exec/s, peak
# RSS, crashes, timeouts) as the README's Fuzzing table has them. New inputs go to a scratch
# corpus (tests/fuzz/target/long-run/<target>), crashes and timeouts to tests/fuzz/artifacts/.
#   tests/fuzz/long-run.sh [target...]     (all targets when none is named)
# Needs the nightly toolchain (or RUSTC_BOOTSTRAP=1) and cargo-fuzz (`cargo install cargo-fuzz`).
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${RUNS:-10000000}
max_time=${MAX_TIME:-1800}
toolchain=${FUZZ_TOOLCHAIN:-+nightly}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' tests/fuzz/Cargo.toml | grep -v '^botvisor-fuzz$')
fi
# No sanitizer: the targets are safe Rust (no `unsafe` of ours), so AddressSanitizer would only
# slow them down; debug assertions (overflow checks) stay on.
cargo $toolchain fuzz build --fuzz-dir tests/fuzz --sanitizer none
target_dir=${CARGO_TARGET_DIR:-tests/fuzz/target}
echo "| target | executions | time | exec/s | peak RSS | crashes | timeouts |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for target in "${targets[@]}"; do
    scratch=tests/fuzz/target/long-run/$target
    mkdir -p "$scratch" "tests/fuzz/artifacts/$target"
    log=tests/fuzz/target/long-run/$target.log
    start=$(date +%s)
    status=0
    "$target_dir/x86_64-unknown-linux-gnu/release/$target" -runs="$runs" -max_total_time="$max_time" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="tests/fuzz/artifacts/$target/" "$scratch" "tests/fuzz/corpus/$target" >"$log" 2>&1 || status=$?
    seconds=$(($(date +%s) - start))
    stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -1; }
    crashes=$(grep -c "^==[0-9]*== ERROR: libFuzzer: deadly signal\|^thread '.*' panicked" "$log" || true)
    timeouts=$(grep -c "ERROR: libFuzzer: timeout" "$log" || true)
    echo "| $target | $(stat number_of_executed_units) | ${seconds} s | $(stat average_exec_per_sec) | $(stat peak_rss_mb) MB | $crashes | $timeouts |"
    if [ "$status" -ne 0 ]; then
        echo "$target: libFuzzer exited $status; see $log and tests/fuzz/artifacts/$target/" >&2
    fi
done
