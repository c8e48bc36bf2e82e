#!/usr/bin/env bash
# Instructions per consumer message on the hot path (benches/instructions.rs), counted by
# valgrind's callgrind: the bench runs N and then 2N messages, and the difference of the two
# totals over N cancels the set-up. Deterministic for one binary: compare before and after a
# change without the machine's noise.
#   benches/instructions.sh [N]        (default 5000)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-5000}
cargo bench --bench instructions --no-run 2>/dev/null
binary=$(cargo bench --bench instructions --no-run --message-format=json 2>/dev/null \
    | sed -n 's/.*"executable":"\([^"]*instructions[^"]*\)".*/\1/p' | tail -1)
[ -x "$binary" ] || { echo "instructions: the bench binary was not built" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
total() {
    valgrind --tool=callgrind --callgrind-out-file="$out/$1.out" "$binary" "$1" >/dev/null 2>"$out/$1.log"
    sed -n 's/^summary: *//p' "$out/$1.out"
}
small=$(total "$n")
large=$(total $((2 * n)))
per=$(( (large - small) / n ))
echo "instructions per consumer message: $per (callgrind: $small instructions for $n messages, $large for $((2 * n)))"
