#!/usr/bin/env bash
# The whole test suite: set up (dev extras, Tesseract, Chromium), start a local OpenSearch node
# (unless FOLIO_OPENSEARCH_URL points at one), run pytest, stop the node.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
py=.venv/bin/python
[[ -n "${VIRTUAL_ENV:-}" ]] && py="$VIRTUAL_ENV/bin/python"

started=0
if [[ -z "${FOLIO_OPENSEARCH_URL:-}" ]]; then
  port="${FOLIO_TEST_OPENSEARCH_PORT:-9250}"
  scripts/opensearch-local start --port "$port"
  started=1
  export FOLIO_OPENSEARCH_URL="http://127.0.0.1:$port"
fi
trap '[[ $started == 1 ]] && scripts/opensearch-local stop --port "$port"' EXIT
export FOLIO_REQUIRE_OPENSEARCH=1  # OpenSearch tests fail rather than skip when the node is missing
"$py" -m pytest "$@"
