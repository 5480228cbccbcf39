"""Access tokens from a real Keycloak (deploy/keycloak/folio-realm.json) on a real `folio serve` over
HTTP: each person sees their group's pages and the public ones, through the same ACL code as API
keys; every bad token gets a 401 with an RFC 6750 challenge; a provider that cannot be reached
makes tokens 503 while API keys keep working."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.fixtures.api_server import ApiServer, StartServer, free_port, index_files, wait_job
from tests.fixtures.keycloak import Keycloak

pytestmark = [pytest.mark.slow, pytest.mark.keycloak]

QUERY = {"query": "text better", "mode": "bm25", "top_k": 50, "top_n": 50}


def oidc_env(issuer: str) -> dict[str, str]:
    # No clock skew allowed, so a token of Keycloak's 1 s client expires within the test.
    return {"FOLIO_OIDC_ISSUER": issuer, "FOLIO_OIDC_CLIENT_ID": "folio-portal",
            "FOLIO_OIDC_ADMIN_GROUP": "folio-admins", "FOLIO_OIDC_LEEWAY_S": "0"}  # fmt: skip


@pytest.fixture
def acl_store(tmp_path: Path, shared_pdfs: Path) -> str:
    """A SQLite store with pages for staff, for legal, and public ones."""
    url = f"sqlite:///{tmp_path}/oidc.db"
    index_files(url, [shared_pdfs / "pdflatex-4-pages.pdf"], collection="staff", groups=["staff"])
    index_files(url, [shared_pdfs / "google-doc-document.pdf"], collection="legal", groups=["legal"])
    index_files(url, [shared_pdfs / "multilang.pdf"], collection="public")
    return url


def assert_sees(server: ApiServer, token: str, groups: set[str]) -> None:
    """The caller's document list holds the documents of `groups` (public included), no others; their
    search hits come from those groups and include each group's pages (the query matches all of them)."""
    with server.client(token) as client:
        search = client.post("/v1/search", json=QUERY)
        docs = client.get("/v1/documents")
    assert search.status_code == 200 and docs.status_code == 200, (search.text, docs.text)
    hits = {h["collection"] for h in search.json()["hits"]}
    assert groups - {"public"} <= hits <= groups
    assert {d["collection"] for d in docs.json()["documents"]} == groups


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def parts(token: str) -> tuple[dict, dict]:
    return jwt.get_unverified_header(token), jwt.decode(token, options={"verify_signature": False})


def assert_invalid_token(server: ApiServer, token: str, says: str) -> None:
    with server.client(token) as client:
        resp = client.post("/v1/search", json=QUERY)
    assert resp.status_code == 401, resp.text
    assert says in resp.json()["detail"]
    challenge = resp.headers["www-authenticate"]
    assert challenge.startswith('Bearer error="invalid_token", error_description="') and says in challenge


def test_groups_from_tokens_decide_what_a_person_reads(
    api_server: StartServer, acl_store: str, keycloak: Keycloak
) -> None:
    server = api_server(acl_store, env=oidc_env(keycloak.issuer))
    alice, bob, carol = (keycloak.token(name) for name in ("alice", "bob", "carol"))
    assert parts(alice)[1]["groups"] == ["/staff"]  # Keycloak's full path; Folio's group is `staff`

    assert_sees(server, alice, {"staff", "public"})
    assert_sees(server, bob, {"legal", "public"})
    assert_sees(server, carol, {"staff", "legal", "public"})  # the admin group

    with server.client(bob) as client:
        legal_page = next(h["page_id"] for h in client.post("/v1/search", json=QUERY).json()["hits"]
                          if h["collection"] == "legal")  # fmt: skip
        assert client.get(f"/v1/pages/{legal_page}/image").status_code == 200
    legal_doc = legal_page.split(":")[0]
    with server.client(alice) as client:
        me = client.get("/v1/me").json()
        assert me == {"anonymous": False, "key_id": None, "groups": ["staff"], "admin": False,
                      "name": "Alice Example"}  # fmt: skip
        assert client.get(f"/v1/pages/{legal_page}/image").status_code == 404
        assert client.get(f"/v1/documents/{legal_doc}/pages").status_code == 404
        assert client.delete(f"/v1/documents/{legal_doc}").status_code == 404
    with server.client(carol) as client:
        assert client.get("/v1/me").json()["admin"] is True
        assert client.get(f"/v1/documents/{legal_doc}/pages").status_code == 200
    # API keys keep working beside tokens.
    assert_sees(server, server.create_key(["legal"]), {"legal", "public"})


def test_a_token_uploads_for_its_groups(
    api_server: StartServer, acl_store: str, keycloak: Keycloak, shared_pdfs: Path
) -> None:
    server = api_server(acl_store, env=oidc_env(keycloak.issuer))
    pdf = (shared_pdfs / "crazyones-pdfa.pdf").read_bytes()
    crazy = {"query": "crazy ones", "mode": "bm25"}
    with server.client(keycloak.token("alice")) as client:  # in staff
        upload = client.post("/v1/documents", files={"files": ("crazy ones.pdf", pdf, "application/pdf")},
                             data={"collection": "uploads"})  # fmt: skip
        assert upload.status_code == 202, upload.text
        assert wait_job(client, upload.json()["status_url"])["state"] == "done"
        hits = client.post("/v1/search", json=crazy).json()["hits"]
        assert hits and hits[0]["collection"] == "uploads"
        doc_id = hits[0]["doc_id"]
        assert client.get(f"/v1/documents/{doc_id}/file").content == pdf
    with server.client(server.create_key(["staff"])) as client:  # staff by a key: the same group
        assert client.get(f"/v1/documents/{doc_id}/pages").status_code == 200
    with server.client(keycloak.token("bob")) as client:  # in legal
        assert doc_id not in {h["doc_id"] for h in client.post("/v1/search", json=crazy).json()["hits"]}
        assert client.get(f"/v1/documents/{doc_id}/file").status_code == 404
        assert client.delete(f"/v1/documents/{doc_id}").status_code == 404


def test_a_person_removed_from_a_group_loses_it_with_their_next_token(
    api_server: StartServer, acl_store: str, keycloak: Keycloak
) -> None:
    server = api_server(acl_store, env=oidc_env(keycloak.issuer))
    with keycloak.admin() as admin:
        dave = admin.get("/users", params={"username": "dave", "exact": "true"}).json()[0]["id"]
        staff = admin.get("/groups", params={"search": "staff", "exact": "true"}).json()[0]["id"]
        assert admin.put(f"/users/{dave}/groups/{staff}").status_code == 204
        try:
            assert_sees(server, keycloak.token("dave"), {"staff", "public"})
        finally:
            assert admin.delete(f"/users/{dave}/groups/{staff}").status_code == 204
    assert_sees(server, keycloak.token("dave"), {"public"})


def test_bad_tokens_get_401_with_an_rfc6750_challenge(
    api_server: StartServer, acl_store: str, keycloak: Keycloak
) -> None:
    server = api_server(acl_store, env=oidc_env(keycloak.issuer))
    good = keycloak.token("alice")
    header, claims = parts(good)
    head, body, signature = good.split(".")

    # Tampered: bob's groups in alice's signed token.
    tampered = b64(json.dumps({**claims, "groups": ["/legal"]}).encode())
    assert_invalid_token(server, f"{head}.{tampered}.{signature}", "signature does not verify")
    # For another application of the same realm.
    assert_invalid_token(
        server, keycloak.token("alice", client_id="folio-other"), "not issued for 'folio-portal'"
    )
    # From another realm of the same server (its own issuer and keys).
    assert_invalid_token(server, keycloak.token("admin", "admin-cli", "master", "admin"), "key the issuer")
    # `alg: none`, and HMAC with the realm's public key as the secret.
    none_head = b64(json.dumps({**header, "alg": "none"}).encode())
    assert_invalid_token(server, f"{none_head}.{body}.", "'none' is not accepted")
    jwks = httpx.get(f"{keycloak.issuer}/protocol/openid-connect/certs").json()
    realm_key = jwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == header["kid"])).key
    public_pem = realm_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    hs_head = b64(json.dumps({**header, "alg": "HS256"}).encode())
    hs_sig = b64(hmac.new(public_pem, f"{hs_head}.{body}".encode(), hashlib.sha256).digest())
    assert_invalid_token(server, f"{hs_head}.{body}.{hs_sig}", "'HS256' is not accepted")
    # Signed with a key Keycloak does not publish (every claim right): the key set is refetched, then 401.
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, forger, algorithm="RS256", headers={"kid": "not-published"})
    assert_invalid_token(server, forged, "key the issuer does not publish")
    # Expired: Keycloak's folio-short-lived client issues tokens for folio-portal that last 1 s.
    short = keycloak.token("alice", client_id="folio-short-lived")
    assert parts(short)[1]["aud"] == "folio-portal"  # right audience: only the time is wrong
    time.sleep(max(0.0, parts(short)[1]["exp"] - time.time()) + 1.1)
    assert_invalid_token(server, short, "expired")
    # The good token still works: none of the above changed the server's view of the issuer.
    assert_sees(server, good, {"staff", "public"})


def test_an_unreachable_provider_makes_tokens_503_and_keys_still_work(
    api_server: StartServer, acl_store: str, keycloak: Keycloak
) -> None:
    closed = f"http://127.0.0.1:{free_port()}/realms/folio"  # nothing listens there
    server = api_server(acl_store, env=oidc_env(closed))
    key = server.create_key(["staff"])
    token = keycloak.token("alice")
    for _ in range(2):  # the first try fetches, the second answers from the recorded failure
        with server.client(token) as client:
            resp = client.post("/v1/search", json=QUERY)
        assert resp.status_code == 503 and "identity provider" in resp.json()["detail"], resp.text
    assert_sees(server, key, {"staff", "public"})
