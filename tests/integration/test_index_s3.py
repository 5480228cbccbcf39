"""`folio index s3://bucket/prefix` against a real S3-compatible server (S3Proxy, tests/fixtures/s3.py):
objects indexed, unchanged ones skipped, a changed one replaced, a deleted one reported and pruned;
the listing's pagination, a download that fails alone, and the errors that stop a run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from docstore.store import open_store
from indexer import s3_sources
from indexer.discovery import discover
from indexer.sources import TEXT_BYTES_READ, FetchFailed, SourceUnavailable, read_text_document
from tests.fixtures.paths import REPO, SAMPLES
from tests.fixtures.s3 import S3Server

pytestmark = pytest.mark.s3


def folio(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "search_api.main", *args]
    full_env = {**os.environ, "FOLIO_EMBEDDER": "hash", **(env or {})}
    return subprocess.run(cmd, capture_output=True, text=True, env=full_env, cwd=REPO, timeout=240)


def folio_json(*args: str, env: dict[str, str] | None = None) -> Any:
    proc = folio(*args, "--json", "--quiet", env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_a_bucket_is_indexed_then_skipped_replaced_reported_and_pruned(
    s3_server: S3Server, shared_pdfs: Path, tmp_path: Path
) -> None:
    s3, bucket = s3_server.client(), s3_server.new_bucket()
    corpus = {
        "corpus/minimal.pdf": shared_pdfs / "minimal-document.pdf",  # 1 page
        "corpus/writer.pdf": shared_pdfs / "002-trivial-libre-office-writer.pdf",  # 1 page
        "corpus/sub/multicolumn.pdf": shared_pdfs / "multicolumn.pdf",  # 3 pages
        "corpus/broken.pdf": shared_pdfs / "hostile" / "poppler-742-0-fuzzed.pdf",  # fails alone
        "corpus/notes.md": SAMPLES / "indexing-notes.md",  # 1 text page
        "corpus/picture.png": SAMPLES / "indexing-notes.md",  # not a kind that is indexed
        "corpus/.hidden/secret.pdf": shared_pdfs / "minimal-document.pdf",  # hidden, as on disk
        "elsewhere/minimal.pdf": shared_pdfs / "minimal-document.pdf",  # outside the prefix
    }
    for key, path in corpus.items():
        s3.upload_file(str(path), bucket, key)
    prefix, store_url = f"s3://{bucket}/corpus/", f"sqlite:///{tmp_path}/s3.db"
    temp = tmp_path / "tmp"  # the runs' temporary downloads, to see that none is left behind
    temp.mkdir()
    env = {**s3_server.env(), "TMPDIR": str(temp)}

    def uri(key: str) -> str:
        return f"{prefix}{key}"

    first = folio_json("index", prefix, "--store", store_url, env=env)
    assert first["files_indexed"] == 4 and first["pages_indexed"] == 6, first
    [broken] = first["skipped"]
    assert broken["source"] == uri("broken.pdf") and broken["reason"].startswith("damaged")
    assert first["deleted"] == [] and list(temp.iterdir()) == []
    store = open_store(store_url)
    docs = {d.source: d for d in store.list_documents()}
    assert set(docs) == {uri("minimal.pdf"), uri("writer.pdf"), uri("sub/multicolumn.pdf"), uri("notes.md")}
    assert docs[uri("sub/multicolumn.pdf")].content_hash.startswith("s3-etag:")
    assert docs[uri("notes.md")].title == "Folio quick notes: indexing and reranking"

    again = folio_json("index", prefix, "--store", store_url, env=env)
    assert again["files_unchanged"] == 4 and again["files_indexed"] == 0 and again["pages_indexed"] == 0
    assert again["skipped"] == [{**broken, "remembered": True}]  # not downloaded or opened again

    # One object replaced by another PDF (4 pages for 3), one deleted.
    s3.upload_file(str(shared_pdfs / "pdflatex-4-pages.pdf"), bucket, "corpus/sub/multicolumn.pdf")
    s3.delete_object(Bucket=bucket, Key="corpus/writer.pdf")
    third = folio_json("index", prefix, "--store", store_url, env=env)
    assert third["files_indexed"] == 1 and third["pages_indexed"] == 4 and third["files_unchanged"] == 2
    assert third["deleted"] == [uri("writer.pdf")] and third["pruned"] == 0
    changed = store.get_document(docs[uri("sub/multicolumn.pdf")].doc_id)
    assert changed is not None and changed.page_count == 4 and changed.complete
    # minimal, writer, the new 4 pages, notes: the deleted object's page is still searchable
    assert store.count() == 1 + 1 + 4 + 1

    human = folio("index", prefix, "--store", store_url, "--quiet", env=env)
    assert human.returncode == 0 and "files deleted    1\n" in human.stdout
    assert f"--prune removes them):\n  {uri('writer.pdf')}\n" in human.stdout

    pruned = folio_json("index", prefix, "--store", store_url, "--prune", env=env)
    assert pruned["deleted"] == [uri("writer.pdf")] and pruned["pruned"] == 1
    assert pruned["files_unchanged"] == 3
    assert store.get_document(docs[uri("writer.pdf")].doc_id) is None and store.count() == 1 + 4 + 1
    assert folio_json("index", prefix, "--store", store_url, env=env)["deleted"] == []
    assert list(temp.iterdir()) == []
    store.close()
    deleted = folio("delete", "--source", uri("notes.md"), "--store", store_url, "--json")
    assert deleted.returncode == 0 and json.loads(deleted.stdout) == {
        "documents_deleted": 1,
        "pages_deleted": 1,
    }


def test_the_listing_is_paged_and_a_failed_download_fails_alone(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3, bucket = s3_server.client(), s3_server.new_bucket()
    keys = [f"many/{n:02d}.md" for n in range(7)]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=f"# {key}\n".encode())
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    s3_sources._client.cache_clear()  # clients are kept per endpoint: this one for this server
    monkeypatch.setattr(s3_sources, "PAGE_SIZE", 2)  # 7 keys in 4 listing requests
    sources = list(discover([f"s3://{bucket}/many/"]))
    assert [s.uri for s in sources] == [f"s3://{bucket}/{key}" for key in keys]

    copy = sources[0].fetch(max_bytes=1 << 20)
    assert copy.path.read_text() == "# many/00.md\n" and copy.path.name == "00.md"
    copy.release()
    assert not copy.path.exists()
    s3.put_object(Bucket=bucket, Key=keys[1], Body=b"# rewritten since the listing\n")
    s3.delete_object(Bucket=bucket, Key=keys[2])
    big = s3_sources.S3Object(bucket, "many/big.pdf", '"x"', 5 << 20, 0, "pdf")
    for source, reason in [
        (sources[1], "changed while being read"),
        (sources[2], "deleted while being read"),
        (big, "too large to download (5 MB; the limit is 1 MB"),
    ]:
        with pytest.raises(FetchFailed, match=reason.replace("(", r"\(")):
            source.fetch(max_bytes=1 << 20)
    # A text object is read only as far as a text page reaches (a range request).
    s3.put_object(Bucket=bucket, Key="big/huge.txt", Body=b"word " * (TEXT_BYTES_READ // 5 + 1000))
    [huge] = discover([f"s3://{bucket}/big/"])
    copy = huge.fetch(max_bytes=1 << 20)  # the limit is for what is downloaded whole
    assert copy.path.stat().st_size == TEXT_BYTES_READ and read_text_document(copy.path).truncated
    copy.release()
    with pytest.raises(SourceUnavailable, match=f"no such bucket: s3://{bucket}-missing"):
        discover([f"s3://{bucket}-missing/"])
    s3_sources._client.cache_clear()


def test_a_bucket_that_cannot_be_listed_stops_the_run_with_one_message(
    s3_server: S3Server, tmp_path: Path
) -> None:
    bucket = s3_server.new_bucket()
    store_url = f"sqlite:///{tmp_path}/err.db"
    env = s3_server.env()
    cases = [
        (env, f"s3://{bucket}-missing/docs", f"no such bucket: s3://{bucket}-missing"),
        ({**env, "AWS_SECRET_ACCESS_KEY": "wrong"}, f"s3://{bucket}/", "S3 refused the credentials"),
        ({**env, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}, f"s3://{bucket}/", "S3 endpoint unreachable"),
        (env, "s3:///docs", "no bucket"),
    ]
    for case_env, path, message in cases:
        proc = folio("index", path, "--store", store_url, env=case_env)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    # --s3-endpoint wins over AWS_ENDPOINT_URL.
    proc = folio(
        "index", f"s3://{bucket}/", "--store", store_url, "--s3-endpoint", "http://127.0.0.1:9", env=env
    )
    assert proc.returncode == 2 and "S3 endpoint unreachable: http://127.0.0.1:9" in proc.stderr
    assert not (tmp_path / "err.db").exists() or open_store(store_url).count() == 0
