"""API keys: hashed at rest, verified, revoked, and managed by `folio keys`."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from docstore.key_file import KeyFile
from search_api.keys import KeyStore, hash_key, parse_groups
from search_api.main import main


def _keys(path: Path | str) -> KeyStore:
    return KeyStore(KeyFile(path))


def test_keys_are_stored_hashed_and_revocable(tmp_path: Path) -> None:
    store = _keys(tmp_path / "keys.db")
    key, record = store.create(["a", "b"], name="team")
    admin_key, _ = store.create([], admin=True)
    assert key.startswith(f"folio_{record.key_id}_") and len(key) > 50
    store.close()
    raw = (tmp_path / "keys.db").read_bytes()
    assert key.encode() not in raw and hash_key(key).encode() in raw
    store = _keys(tmp_path / "keys.db")
    found = store.verify(key)
    assert found is not None and found.groups == ["a", "b"] and not found.admin
    assert store.verify(admin_key).admin  # type: ignore[union-attr]
    assert store.verify(key + "x") is None and store.verify("not-a-key") is None
    assert store.revoke(record.key_id) and not store.revoke(record.key_id)
    assert store.verify(key) is None
    assert [r.key_id for r in store.list()] != [] and record.key_id not in [r.key_id for r in store.list()]
    assert record.key_id in [r.key_id for r in store.list(include_revoked=True)]


def test_a_keys_file_written_before_keeps_its_keys(tmp_path: Path) -> None:
    key = "folio_0123456789ab_" + "s" * 43
    with sqlite3.connect(tmp_path / "keys.db") as db:  # the table as servers have always written it
        db.execute(
            "CREATE TABLE api_keys (key_id TEXT PRIMARY KEY, key_hash TEXT NOT NULL UNIQUE, name TEXT NOT NULL"
            " DEFAULT '', groups TEXT NOT NULL DEFAULT '', admin INTEGER NOT NULL DEFAULT 0,"
            " created_at REAL NOT NULL, revoked_at REAL)"
        )
        db.execute(
            "INSERT INTO api_keys (key_id, key_hash, name, groups, admin, created_at) VALUES (?,?,?,?,?,?)",
            ("0123456789ab", hash_key(key), "old", "a,b", 0, 1.0),
        )
    db.close()
    store = _keys(tmp_path / "keys.db")
    found = store.verify(key)
    assert found is not None and found.key_id == "0123456789ab" and found.groups == ["a", "b"]
    assert store.revoke("0123456789ab") and store.verify(key) is None


def test_parse_groups() -> None:
    assert parse_groups(" a, b,,a ,c") == ["a", "b", "c"] and parse_groups(None) == []


def test_cli_create_list_revoke(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    keys_file = str(tmp_path / "k.db")
    assert main(["keys", "--keys-file", keys_file, "create", "--groups", "x,y", "--name", "n", "--json"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["groups"] == ["x", "y"] and _keys(keys_file).verify(created["key"]) is not None
    assert main(["keys", "--keys-file", keys_file, "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [k["key_id"] for k in listed] == [created["key_id"]] and "key" not in listed[0]
    assert main(["keys", "--keys-file", keys_file, "revoke", created["key_id"]]) == 0
    assert main(["keys", "--keys-file", keys_file, "revoke", created["key_id"]]) == 1
    assert main(["keys", "--keys-file", keys_file, "create"]) == 2  # neither groups nor admin


def test_cli_location_options_go_before_or_after_the_action(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    store = f"sqlite:///{tmp_path}/folio.db"  # the keys file is keys.db beside it
    assert main(["keys", "create", "--groups", "x", "--store", store, "--json"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert _keys(str(tmp_path / "keys.db")).verify(created["key"]) is not None
    for argv in (["keys", "--store", store, "list", "--json"], ["keys", "list", "--json", "--store", store]):
        assert main(argv) == 0
        assert [k["key_id"] for k in json.loads(capsys.readouterr().out)] == [created["key_id"]]
    other = str(tmp_path / "other.db")
    assert main(["keys", "--keys-file", other, "list", "--json"]) == 0  # given before, kept
    assert json.loads(capsys.readouterr().out) == []
