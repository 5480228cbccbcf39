#!/usr/bin/env bash
# The quick start: set up, index the sample PDFs into the embedded SQLite store, answer a search.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
folio=".venv/bin/folio"
[[ -n "${VIRTUAL_ENV:-}" ]] && folio="$VIRTUAL_ENV/bin/folio"
export FOLIO_STORE="${FOLIO_STORE:-sqlite:///.folio/quickstart.db}"
echo "==> indexing samples/ into $FOLIO_STORE"
samples=()
for f in samples/*; do [[ "$(basename "$f")" == README.md ]] || samples+=("$f"); done
"$folio" index "${samples[@]}"
query="${1:-how are search results reranked}"
echo "==> folio search \"$query\""
"$folio" search "$query" --top-k 5
echo
echo "Next: $folio serve --store $FOLIO_STORE --anonymous   # then open http://127.0.0.1:8080/"
