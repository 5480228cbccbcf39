"""The portal's cookie sessions over real HTTP on real `folio serve` processes: sign-in with an API
key (POST /auth/key), the CSRF token that state-changing calls from a cookie session need, sessions
kept in the store so another replica accepts them, and the sign-in's `state` check."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from docstore.store import open_store
from search_api.keys import KeyStore
from tests.fixtures.api_server import ApiServer, StartServer, index_files
from tests.fixtures.keycloak import CLIENT_SECRETS, Keycloak

pytestmark = pytest.mark.slow


@pytest.fixture
def store(tmp_path: Path, shared_pdfs: Path) -> str:
    url = f"sqlite:///{tmp_path}/sessions.db"
    index_files(url, [shared_pdfs / "pdflatex-4-pages.pdf"], collection="staff", groups=["staff"])
    return url


@contextmanager
def key_session(server: ApiServer, key: str) -> Iterator[httpx.Client]:
    """A client signed in like the portal: the cookies of POST /auth/key, no Authorization header."""
    with httpx.Client(base_url=server.base_url, timeout=60) as client:
        resp = client.post("/auth/key", json={"key": key})
        assert resp.status_code == 200, resp.text
        yield client


def test_key_sign_in_sets_an_httponly_cookie_session(api_server: StartServer, store: str) -> None:
    server = api_server(store)
    key = server.create_key(["staff"], name="portal")
    with key_session(server, key) as client:
        cookies = client.post("/auth/key", json={"key": key}).headers.get_list("set-cookie")
        session_cookie = next(c for c in cookies if c.startswith("folio_session="))
        csrf_cookie = next(c for c in cookies if c.startswith("folio_csrf="))
        assert "HttpOnly" in session_cookie and "samesite=lax" in session_cookie.lower()
        assert "HttpOnly" not in csrf_cookie  # the portal reads it to echo it
        assert key not in " ".join(cookies)  # the key stays on the server
        me = client.get("/v1/me").json()
        assert me["anonymous"] is False and me["groups"] == ["staff"]
        assert {d["collection"] for d in client.get("/v1/documents").json()["documents"]} == {"staff"}
        client.post("/auth/logout")
        assert client.get("/v1/me").status_code == 401
    with httpx.Client(base_url=server.base_url) as client:
        assert client.post("/auth/key", json={"key": key + "x"}).status_code == 401
        assert "folio_session" not in client.cookies


def test_revoking_the_key_ends_its_session(api_server: StartServer, store: str) -> None:
    server = api_server(store)
    key = server.create_key(["staff"])
    with key_session(server, key) as client:
        key_id = client.get("/v1/me").json()["key_id"]
        keys = KeyStore(open_store(store).shared_state(server.keys_file).keys, 0)  # as `folio keys revoke`
        assert keys.revoke(key_id)
        assert client.get("/v1/me").status_code == 401


def test_cookie_sessions_need_the_csrf_token_to_change_anything(
    api_server: StartServer, store: str, shared_pdfs: Path
) -> None:
    server = api_server(store)
    with key_session(server, server.create_key(["staff"])) as client:
        doc_id = client.get("/v1/documents").json()["documents"][0]["doc_id"]
        pdf = (shared_pdfs / "minimal-document.pdf").read_bytes()
        upload = {"files": ("minimal-document.pdf", pdf, "application/pdf")}
        fields = {"collection": "staff", "groups": "staff"}
        refused = client.post("/v1/documents", files=upload, data=fields)
        assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
        assert client.delete(f"/v1/documents/{doc_id}").status_code == 403
        wrong = client.delete(f"/v1/documents/{doc_id}", headers={"X-CSRF-Token": "not-it"})
        assert wrong.status_code == 403
        token = {"X-CSRF-Token": client.cookies["folio_csrf"]}
        assert client.post("/v1/documents", files=upload, data=fields, headers=token).status_code == 202
        assert client.delete(f"/v1/documents/{doc_id}", headers=token).status_code == 200
        assert client.get("/v1/documents").status_code == 200  # reads need no token


def test_a_session_works_on_every_replica_of_the_store(
    api_server: StartServer, api_store_url: str, tmp_path: Path
) -> None:
    keys_file = tmp_path / "shared-keys.db"  # a SQLite store's; an OpenSearch store keeps keys itself
    first = api_server(api_store_url, keys_file=keys_file)
    second = api_server(api_store_url, keys_file=keys_file)
    with key_session(first, first.create_key(["staff"])) as client:
        cookies = dict(client.cookies)
    with httpx.Client(base_url=second.base_url, cookies=cookies, timeout=60) as other:
        assert other.get("/v1/me").json()["groups"] == ["staff"]
        other.post("/auth/logout")
    with httpx.Client(base_url=first.base_url, cookies=cookies, timeout=60) as again:
        assert again.get("/v1/me").status_code == 401  # ended on the other replica, ended here


@pytest.mark.keycloak
def test_a_callback_with_another_state_is_refused(
    api_server: StartServer, store: str, keycloak: Keycloak
) -> None:
    env = {"FOLIO_OIDC_ISSUER": keycloak.issuer, "FOLIO_OIDC_CLIENT_ID": "folio-portal",
           "FOLIO_OIDC_CLIENT_SECRET": "folio-portal-secret"}  # fmt: skip
    server = api_server(store, env=env)
    with httpx.Client(base_url=server.base_url, timeout=60) as client:
        login = client.get("/auth/login")
        assert login.status_code == 302
        target = httpx.URL(login.headers["location"])
        assert target.params["code_challenge_method"] == "S256" and target.params["nonce"]
        state = target.params["state"]
        assert client.get("/auth/callback", params={"state": "forged", "code": "x"}).status_code == 400
        # The right state from another browser (no sign-in cookie) is refused too.
        with httpx.Client(base_url=server.base_url, timeout=60) as stranger:
            assert stranger.get("/auth/callback", params={"state": state, "code": "x"}).status_code == 400
        # A code the provider never issued: refused, never a session.
        bad_code = client.get("/auth/callback", params={"state": state, "code": "forged"})
        assert bad_code.status_code == 400 and "folio_session" not in client.cookies


def sign_in_through_keycloak(client: httpx.Client, username: str) -> None:
    """The portal's sign-in as a browser runs it: /auth/login, Keycloak's login form, the callback."""
    login = client.get("/auth/login")
    assert login.status_code == 302, login.text
    form = client.get(login.headers["location"], follow_redirects=True)
    action = re.search(r'<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"', form.text)
    assert action, form.text[-2000:]
    for cookie in client.cookies.jar:  # Keycloak marks its cookies Secure; a browser sends them to 127.0.0.1
        cookie.secure = False
    signed_in = client.post(html.unescape(action.group(1)),
                            data={"username": username, "password": f"{username}-password"})  # fmt: skip
    assert signed_in.status_code == 302, signed_in.text[-2000:]
    callback = client.get(signed_in.headers["location"])
    assert callback.status_code in (302, 303), callback.text
    assert "folio_session" in client.cookies


@pytest.mark.keycloak
def test_a_session_is_refreshed_and_ends_when_the_provider_refuses(
    api_server: StartServer, store: str, keycloak: Keycloak
) -> None:
    # Keycloak's folio-portal-refresh client issues access tokens that last 2 s; no clock skew
    # allowed, so only a refreshed token answers after that.
    env = {"FOLIO_OIDC_ISSUER": keycloak.issuer, "FOLIO_OIDC_CLIENT_ID": "folio-portal-refresh",
           "FOLIO_OIDC_CLIENT_SECRET": CLIENT_SECRETS["folio-portal-refresh"], "FOLIO_OIDC_LEEWAY_S": "0"}  # fmt: skip
    server = api_server(store, env=env)
    with httpx.Client(base_url=server.base_url, timeout=60) as client:
        sign_in_through_keycloak(client, "alice")
        assert client.get("/v1/me").json()["groups"] == ["staff"]
        time.sleep(3)  # past the first access token's lifespan
        me = client.get("/v1/me")
        assert me.status_code == 200 and me.json()["name"] == "Alice Example", me.text
        assert {d["collection"] for d in client.get("/v1/documents").json()["documents"]} == {"staff"}
        with keycloak.admin() as admin:  # the provider ends alice's sessions: no refresh any more
            alice = admin.get("/users", params={"username": "alice", "exact": "true"}).json()[0]["id"]
            assert admin.post(f"/users/{alice}/logout").status_code == 204
        time.sleep(3)
        assert client.get("/v1/me").status_code == 401
        assert client.get("/v1/documents").status_code == 401  # ended, not refused once
