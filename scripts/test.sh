#!/usr/bin/env bash
# The whole test suite: set up (dev extras, Tesseract, Chromium), start a local OpenSearch node
# (unless FOLIO_OPENSEARCH_URL points at one), run pytest, stop the node. Then, for each further
# tested OpenSearch line (scripts/opensearch-local versions: 2.19.1 and 3.6.0), start a node of it
# and run pytest again with the same arguments, keeping only the OpenSearch tests that run on every
# line (LINE_TESTS in tests/fixtures/opensearch.py: the store's contract, the API on OpenSearch,
# the node, the cluster). A failure in any pass fails the command.
#
#   FOLIO_TEST_OPENSEARCH_VERSIONS   the releases to run on, the first for the whole suite
#                                    (default: scripts/opensearch-local versions, the default first)
#   FOLIO_TEST_OPENSEARCH_PORT       the first node's port (default 9250; the next lines' 9251, …)
#   FOLIO_TEST_CLUSTER_PORT          the cluster tests' first port (default 9320; next lines +10)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
py=.venv/bin/python
[[ -n "${VIRTUAL_ENV:-}" ]] && py="$VIRTUAL_ENV/bin/python"

if [[ -n "${FOLIO_TEST_OPENSEARCH_VERSIONS:-}" ]]; then
  read -ra versions <<<"$FOLIO_TEST_OPENSEARCH_VERSIONS"
else
  mapfile -t versions < <(scripts/opensearch-local versions)
fi
first_port="${FOLIO_TEST_OPENSEARCH_PORT:-9250}"
cluster_port="${FOLIO_TEST_CLUSTER_PORT:-9320}"
user_url="${FOLIO_OPENSEARCH_URL:-}"

started=""  # the port of the node this script started for the current pass, stopped after it
line_count="$(mktemp)"  # the first pass writes how many of its tests run on every line
trap 'rm -f "$line_count"; [[ -n $started ]] && scripts/opensearch-local stop --port "$started"' EXIT
export FOLIO_REQUIRE_OPENSEARCH=1  # OpenSearch tests fail rather than skip when the node is missing
export FOLIO_REQUIRE_KEYCLOAK=1  # so do the OIDC tests when Keycloak cannot start (tests/fixtures/keycloak.py)
export FOLIO_REQUIRE_S3=1  # and the S3 source tests when the S3 server cannot start (tests/fixtures/s3.py)
export FOLIO_REQUIRE_RAY=1  # and the Ray tests when the local Ray cluster cannot start (tests/fixtures/ray_cluster.py)

failed=0
for i in "${!versions[@]}"; do
  version="${versions[$i]}" port=$((first_port + i))
  url="$user_url"
  if ((i > 0)); then
    url=""  # FOLIO_OPENSEARCH_URL serves the first release only
    if [[ "$(cat "$line_count")" == 0 ]]; then
      echo "==> OpenSearch $version: none of the selected tests runs on every line"
      continue
    fi
  fi
  if [[ -z "$url" ]]; then
    # A node of that release already answering on the port is reused and left running.
    if ! scripts/opensearch-local status --port "$port" --version "$version" >/dev/null 2>&1; then
      started="$port"
      scripts/opensearch-local start --port "$port" --version "$version"
    fi
    url="http://127.0.0.1:$port"
  fi
  pass="the whole suite"
  ((i > 0)) && pass="the OpenSearch tests that run on every line"
  echo "==> OpenSearch $version ($url): $pass"
  status=0
  FOLIO_OPENSEARCH_URL="$url" FOLIO_TEST_OPENSEARCH_VERSION="$version" \
    FOLIO_TEST_CLUSTER_PORT=$((cluster_port + 10 * i)) FOLIO_TEST_OPENSEARCH_LINE_PASS=$((i > 0)) \
    FOLIO_TEST_LINE_COUNT_FILE="$line_count" "$py" -m pytest "$@" || status=$?
  if [[ -n "$started" ]]; then
    scripts/opensearch-local stop --port "$started"
    started=""
  fi
  # 5: nothing selected, as when the arguments name no test of the line pass
  ((status == 0 || (i > 0 && status == 5))) && continue
  failed=1
  # Interrupted, an internal error or bad arguments: the next pass would not fare better.
  ((status == 1 || status == 5)) || break
done
exit "$failed"
