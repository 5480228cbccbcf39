# syntax=docker/dockerfile:1
# Folio: the search API, portal, indexer and (with EXTRAS=rerank) the m0 rerank server.
#   docker build -t folio .                          API + indexer (no torch; rerank remotely)
#   docker build -t folio-rerank --build-arg EXTRAS=rerank .   adds torch + transformers
FROM python:3.11-slim

ARG EXTRAS=""
# Tesseract languages for OCR of scanned pages (Debian package suffixes).
ARG OCR_LANGS="eng deu"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# tesseract-ocr: OCR for pages without a text layer; sqlite3: online backups of the SQLite store.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tesseract-ocr sqlite3 \
      $(for l in $OCR_LANGS; do printf 'tesseract-ocr-%s ' "$l"; done) \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/folio
COPY pyproject.toml README.md ./
COPY docstore ./docstore
COPY indexer ./indexer
COPY reranker ./reranker
COPY search_api ./search_api
RUN pip install ".${EXTRAS:+[$EXTRAS]}" && rm -rf /opt/folio/build

# Run as an unprivileged user; relative paths in the settings (.folio/…) land in /data.
RUN useradd --system --uid 10001 --home-dir /data --create-home folio
USER folio
WORKDIR /data
VOLUME ["/data"]
ENV FOLIO_STORE=sqlite:////data/folio.db

EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"
CMD ["folio", "serve", "--host", "0.0.0.0", "--port", "8080"]
