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
  # A node already answering on that port is reused and left running.
  if ! scripts/opensearch-local status --port "$port" >/dev/null 2>&1; then
    scripts/opensearch-local start --port "$port"
    started=1
  fi
  export FOLIO_OPENSEARCH_URL="http://127.0.0.1:$port"
fi
trap '[[ $started == 1 ]] && scripts/opensearch-local stop --port "$port"' EXIT
export FOLIO_REQUIRE_OPENSEARCH=1  # OpenSearch tests fail rather than skip when the node is missing
export FOLIO_REQUIRE_KEYCLOAK=1  # so do the OIDC tests when Keycloak cannot start (tests/fixtures/keycloak.py)
"$py" -m pytest "$@"
