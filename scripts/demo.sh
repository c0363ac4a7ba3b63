#!/usr/bin/env bash
# `make demo`: the main job end to end, as far as the toolkit goes today.
#
# Until the trainer lands, the model is made by `edgelm init` (random weights in the
# shape of llama2.c's 15M TinyStories model), so its text is noise and its perplexity is
# near the vocabulary size: the point is the path, not the quality. Steps: make the model
# -> inspect -> quantize to q8_0 and q4_0 -> perplexity and bits per byte of each on a
# held-out Brown corpus excerpt -> benchmark each -> sample output -> one summary table.
set -euo pipefail

EDGELM="${1:-build/edgelm}"
OUT="${OUT:-out/demo}"
THREADS="${THREADS:-$(nproc)}"
PRESET="${PRESET:-15m}"
mkdir -p "$OUT"

# Held-out text: document 9 of the Brown corpus (every tenth document is held out).
TEXT="$OUT/heldout.txt"
awk 'BEGIN { RS = ""; ORS = "\n\n" } NR == 10 { print; exit }' data/brown/brown.txt | head -c 3000 >"$TEXT"

echo "== edgelm init --preset $PRESET"
"$EDGELM" init --preset "$PRESET" --type f32 --seed 1 -o "$OUT/model-f32.gguf"
"$EDGELM" inspect "$OUT/model-f32.gguf" | sed -n '1,5p'

for t in q8_0 q4_0; do
    echo "== edgelm quantize -> $t"
    "$EDGELM" quantize "$OUT/model-f32.gguf" "$OUT/model-$t.gguf" --type "$t"
done

summary="$OUT/summary.tsv"
printf 'type\tsize_MiB\tperplexity\tbits_per_byte\tprefill_tok_s\tdecode_tok_s\tttft_ms\tp95_ms\tpeak_rss_MiB\n' >"$summary"
for t in f32 q8_0 q4_0; do
    m="$OUT/model-$t.gguf"
    echo "== edgelm perplexity + bench: $t"
    "$EDGELM" perplexity "$m" -f "$TEXT" --ctx 256 -t "$THREADS" --json >"$OUT/ppl-$t.json"
    "$EDGELM" bench "$m" -p 64 -n 64 -r 3 -t "$THREADS" --json >"$OUT/bench-$t.json"
    node -e '
const ppl = require(process.argv[1]), b = require(process.argv[2]);
const mib = (x) => (x / 1048576).toFixed(1);
console.log([process.argv[3], mib(b.size_bytes), ppl.perplexity.toFixed(1), ppl.bits_per_byte.toFixed(3),
  b.prefill_tok_s.mean.toFixed(1), b.decode_tok_s.mean.toFixed(1), b.ttft_ms.toFixed(1),
  b.decode_latency_ms.p95.toFixed(2), mib(b.peak_rss_bytes)].join("\t"));
' "$PWD/$OUT/ppl-$t.json" "$PWD/$OUT/bench-$t.json" "$t" >>"$summary"
done

echo "== edgelm run (q8_0, greedy)"
"$EDGELM" run "$OUT/model-q8_0.gguf" -p "The jury said" -n 24 --temp 0 -t "$THREADS"

echo "== summary ($summary)"
column -t -s $'\t' "$summary"
