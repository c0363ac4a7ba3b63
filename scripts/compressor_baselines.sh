#!/usr/bin/env bash
# Bits per byte that general-purpose compressors reach on held-out text, the yardstick for
# a language model's bits per byte on the same bytes. Each compressor is measured two ways:
#   alone        compressed size of TEST, in bits, over TEST's bytes;
#   conditional  compressed size of TRAIN+TEST minus that of TRAIN: what the test text
#                costs a compressor that has already seen the training text, as the model has.
# Usage: scripts/compressor_baselines.sh TRAIN.txt TEST.txt   (prints one JSON object)
# Needs xz-utils and p7zip-full.
set -euo pipefail
TRAIN="$1"
TEST="$2"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
cat "$TRAIN" "$TEST" >"$TMP/both.txt"
cp "$TRAIN" "$TMP/train.txt"
cp "$TEST" "$TMP/test.txt"

xz_size() { xz -9e -T1 -c "$1" | wc -c; }
ppmd_size() {
    rm -f "$TMP/a.7z"
    7z a -bd -bso0 -bsp0 -m0=PPMd:o=8 -mx=9 "$TMP/a.7z" "$1" >/dev/null
    wc -c <"$TMP/a.7z"
}
test_bytes=$(wc -c <"$TMP/test.txt")
bpb() { awk -v bits="$1" -v n="$test_bytes" 'BEGIN { printf "%.4f", bits * 8 / n }'; }

xz_alone=$(xz_size "$TMP/test.txt")
xz_cond=$(($(xz_size "$TMP/both.txt") - $(xz_size "$TMP/train.txt")))
ppmd_alone=$(ppmd_size "$TMP/test.txt")
ppmd_cond=$(($(ppmd_size "$TMP/both.txt") - $(ppmd_size "$TMP/train.txt")))
printf '{"test_bytes": %d, "xz_alone": %s, "xz_conditional": %s, "ppmd_alone": %s, "ppmd_conditional": %s}\n' \
    "$test_bytes" "$(bpb "$xz_alone")" "$(bpb "$xz_cond")" "$(bpb "$ppmd_alone")" "$(bpb "$ppmd_cond")"
