#!/usr/bin/env bash
# Set up Folio: a virtual environment at .venv (unless one is active) with the package installed.
#   scripts/setup.sh          base install (SQLite store, indexer, API; no torch)
#   scripts/setup.sh --dev    everything the test suite needs: torch + transformers, test tools,
#                             Tesseract OCR and headless Chromium (Debian packages, when root)
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[[ "${1:-}" == "--dev" ]] && dev=1

if [[ -n "${VIRTUAL_ENV:-}" ]]; then
  py="$VIRTUAL_ENV/bin/python"
else
  if [[ ! -x .venv/bin/python ]]; then
    echo "==> creating virtual environment .venv"
    python3 -m venv .venv
  fi
  py=.venv/bin/python
fi

stamp=".venv/.folio-installed-$dev-$(sha256sum pyproject.toml | cut -c1-16)"
if [[ -n "${VIRTUAL_ENV:-}" || ! -f "$stamp" ]]; then
  echo "==> installing folio-search$([[ $dev == 1 ]] && echo ' [dev]') into $("$py" -c 'import sys; print(sys.prefix)')"
  "$py" -m pip install -q --upgrade pip
  if [[ $dev == 1 ]]; then
    PYTHONWARNINGS=ignore "$py" -m pip install -q -e ".[dev]"
  else
    PYTHONWARNINGS=ignore "$py" -m pip install -q -e .
  fi
  [[ -z "${VIRTUAL_ENV:-}" ]] && { rm -f .venv/.folio-installed-*; touch "$stamp"; }
fi
"$py" -m docstore.embedders.static_use --build  # the default embedder's table: slow to build, so built once and then reused

# System packages: Tesseract for OCR of scanned pages; Chromium for the browser tests.
want=(tesseract-ocr tesseract-ocr-eng tesseract-ocr-deu)
[[ $dev == 1 ]] && want+=(chromium chromium-driver)
missing=()
for p in "${want[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "==> installing system packages: ${missing[*]}"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null) \
      || echo "warning: could not install ${missing[*]}; OCR or browser tests will be unavailable" >&2
  else
    echo "note: ${missing[*]} not installed (needs root and apt-get); pages without a text layer" \
         "will be indexed without OCR text" >&2
  fi
fi
echo "==> setup done ($py)"
