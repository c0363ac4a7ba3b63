#!/usr/bin/env bash
# `make demo`: the main job end to end on the Brown corpus.
#   split (every tenth document held out) -> tokenizer (trained on the training documents)
#   -> token shards -> a small model trained for TRAIN_MINUTES on this machine -> GGUF f32
#   -> Q8_0 and Q4_0 -> held-out perplexity and bits per byte of each, next to xz and PPMd on
#   the same bytes -> edgelm bench -> a sampled continuation -> one summary table.
# Environment: TRAIN_MINUTES (default 5), THREADS (default: all), OUT (default out/demo).
set -euo pipefail

EDGELM="${1:-build/edgelm}"
OUT="${OUT:-out/demo}"
THREADS="${THREADS:-$(nproc)}"
TRAIN_MINUTES="${TRAIN_MINUTES:-5}"
CORPUS=data/brown/brown.txt
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

echo "== split: every tenth Brown document (9, 19, ..., 499) held out"
awk -v dir="$OUT" 'BEGIN { RS = ""; ORS = "\n\n" }
    { f = ((NR - 1) % 10 == 9) ? dir "/heldout.txt" : dir "/train.txt"; print > f }' "$CORPUS"
wc -c "$OUT/train.txt" "$OUT/heldout.txt" | head -2

echo "== edgelm tokenizer train (training documents only)"
"$EDGELM" tokenizer train --input "$OUT/train.txt" --vocab-size 4096 -o "$OUT/tok.model"

echo "== edgelm data prepare"
rm -rf "$OUT/shards"
"$EDGELM" data prepare --input "$CORPUS" --tokenizer "$OUT/tok.model" -o "$OUT/shards" \
    --val-every 10 2>/dev/null

echo "== edgelm train (${TRAIN_MINUTES} min budget)"
rm -rf "$OUT/run"
"$EDGELM" train --data "$OUT/shards" -o "$OUT/run" \
    --dim 192 --layers 4 --heads 6 --kv-heads 2 --ffn 512 --ctx 128 \
    --batch-size 16 --lr 2e-3 --warmup 20 --decay-fraction 0.3 --min-lr-ratio 0.05 --steps 1000000 --max-minutes "$TRAIN_MINUTES" \
    --eval-every 0 --log-every 25 -t "$THREADS" --export "$OUT/model-f32.gguf"

for t in q8_0 q4_0; do
    echo "== edgelm quantize -> $t"
    "$EDGELM" quantize "$OUT/model-f32.gguf" "$OUT/model-$t.gguf" --type "$t"
done

echo "== compressors on the same held-out bytes"
scripts/compressor_baselines.sh "$OUT/train.txt" "$OUT/heldout.txt" >"$OUT/compressors.json"

summary="$OUT/summary.tsv"
printf 'model\tsize_MiB\tperplexity\tbits_per_byte\tprefill_tok_s\tdecode_tok_s\tttft_ms\tp95_ms\tpeak_rss_MiB\n' >"$summary"
for t in f32 q8_0 q4_0; do
    m="$OUT/model-$t.gguf"
    echo "== edgelm perplexity + bench: $t"
    "$EDGELM" perplexity "$m" -f "$OUT/heldout.txt" --stride 64 -t "$THREADS" --json >"$OUT/ppl-$t.json"
    "$EDGELM" bench "$m" -p 64 -n 64 -r 5 -t "$THREADS" --json >"$OUT/bench-$t.json"
    node -e '
const ppl = require(process.argv[1]), b = require(process.argv[2]);
const mib = (x) => (x / 1048576).toFixed(2);
console.log([process.argv[3], mib(b.size_bytes), ppl.perplexity.toFixed(2), ppl.bits_per_byte.toFixed(4),
  b.prefill_tok_s.median.toFixed(0), b.decode_tok_s.median.toFixed(0), b.ttft_ms.toFixed(2),
  b.decode_latency_ms.p95.toFixed(3), mib(b.peak_rss_bytes)].join("\t"));
' "$OUT/ppl-$t.json" "$OUT/bench-$t.json" "edgelm $t" >>"$summary"
done
node -e '
const c = require(process.argv[1]);
for (const [name, key] of [["xz -9e alone", "xz_alone"], ["xz -9e conditional", "xz_conditional"],
                           ["7z PPMd o8 alone", "ppmd_alone"], ["7z PPMd o8 conditional", "ppmd_conditional"]])
  console.log([name, "-", "-", c[key].toFixed(4), "-", "-", "-", "-", "-"].join("\t"));
' "$OUT/compressors.json" >>"$summary"

echo "== edgelm run (q8_0, temperature 0.8, seed 1)"
"$EDGELM" run "$OUT/model-q8_0.gguf" -p "The jury said that" -n 48 --temp 0.8 --seed 1 -t "$THREADS"
echo

echo "== summary ($summary; bits per byte on the $(wc -c <"$OUT/heldout.txt") held-out bytes)"
column -t -s $'\t' "$summary"
