"""The token verifier against a small real issuer: discovery and key set served over HTTP on
loopback, tokens signed with keys made here. Covers what Keycloak cannot be made to do on demand:
clock skew, `nbf`, a wrong issuer with a published key, key rotation, and how often the key set is
fetched."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from search_api.oidc import OidcVerifier, ProviderUnavailable, TokenRejected, group_names, looks_like_jwt


class Issuer:
    """Serves /.well-known/openid-configuration and /jwks for the keys in `keys` (kid -> private key)."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {"one": rsa.generate_private_key(public_exponent=65537, key_size=2048)}
        self.jwks_fetches = 0
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": issuer.url, "jwks_uri": f"{issuer.url}/jwks"}
                elif self.path == "/jwks":
                    issuer.jwks_fetches += 1
                    body = {"keys": [issuer.public_jwk(kid) for kid in issuer.keys]}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def public_jwk(self, kid: str) -> dict[str, Any]:
        key = self.keys[kid]
        if isinstance(key, rsa.RSAPrivateKey):
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
        else:
            jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
        return {**jwk, "kid": kid, "use": "sig"}

    def token(self, kid: str = "one", alg: str = "RS256", **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": self.url, "aud": "folio", "sub": "u1", "iat": now, "exp": now + 60, **claims}
        return jwt.encode(body, self.keys[kid], algorithm=alg, headers={"kid": kid})


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    server = Issuer()
    yield server
    server.server.shutdown()
    server.server.server_close()


def verifier(issuer: Issuer, **options: Any) -> OidcVerifier:
    return OidcVerifier(issuer.url, "folio", admin_group="/admins", **options)


def test_claims_become_groups_and_admin(issuer: Issuer) -> None:
    check = verifier(issuer)
    person = check.verify(issuer.token(groups=["/staff", "legal", "/eng/search", "", 7]))
    assert (person.subject, person.groups, person.admin) == ("u1", ["staff", "legal", "eng/search"], False)
    assert check.verify(issuer.token(groups="/admins")).admin
    assert check.verify(issuer.token()).groups == []
    assert group_names(["/a", "a"]) == ["a"] and group_names(None) == []


def test_clock_skew_and_time_claims(issuer: Issuer) -> None:
    now = int(time.time())
    lenient, strict = verifier(issuer, leeway_s=30), verifier(issuer, leeway_s=0)
    just_expired = issuer.token(exp=now - 5)
    assert lenient.verify(just_expired).subject == "u1"
    with pytest.raises(TokenRejected, match="expired"):
        strict.verify(just_expired)
    with pytest.raises(TokenRejected, match="not valid yet"):
        strict.verify(issuer.token(nbf=now + 60))
    with pytest.raises(TokenRejected, match="exp"):
        strict.verify(issuer.token(exp=None))


def test_wrong_issuer_and_audience(issuer: Issuer) -> None:
    check = verifier(issuer)
    with pytest.raises(TokenRejected, match="not issued by"):
        check.verify(issuer.token(iss="https://elsewhere.example"))
    with pytest.raises(TokenRejected, match="not issued for 'folio'"):
        check.verify(issuer.token(aud="another-app"))


def test_rotated_keys_are_fetched_and_unknown_ones_at_most_once_per_interval(issuer: Issuer) -> None:
    check = verifier(issuer, refresh_interval_s=2.0)
    ghost = _with_kid(issuer, "ghost")
    assert check.verify(issuer.token()).subject == "u1"
    assert issuer.jwks_fetches == 1
    with pytest.raises(TokenRejected, match="does not publish"):
        check.verify(ghost)  # just fetched: no second fetch yet
    assert issuer.jwks_fetches == 1
    time.sleep(2.1)
    for _ in range(3):  # forged kids make the verifier ask the provider once per interval, not each time
        with pytest.raises(TokenRejected, match="does not publish"):
            check.verify(ghost)
    assert issuer.jwks_fetches == 2
    issuer.keys["two"] = ec.generate_private_key(ec.SECP256R1())  # the provider rotates in a new key
    time.sleep(2.1)
    assert check.verify(issuer.token(kid="two", alg="ES256")).subject == "u1"
    assert issuer.jwks_fetches == 3


def _with_kid(issuer: Issuer, kid: str) -> str:
    """A well-formed token whose key the issuer does not publish."""
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    body = {"iss": issuer.url, "aud": "folio", "sub": "u1", "exp": now + 60}
    return jwt.encode(body, stranger, algorithm="RS256", headers={"kid": kid})


def test_an_unreachable_issuer_is_unavailable_not_invalid(issuer: Issuer) -> None:
    token = issuer.token()
    issuer.server.shutdown()
    issuer.server.server_close()
    check = verifier(issuer)
    for _ in range(2):  # the failure is remembered for a few seconds: no 401 meanwhile
        with pytest.raises(ProviderUnavailable, match="did not answer"):
            check.verify(token)


def test_what_looks_like_a_jwt() -> None:
    assert looks_like_jwt("aGVhZA.Ym9keQ.c2ln") and looks_like_jwt("aGVhZA.Ym9keQ.")
    assert not looks_like_jwt("folio_abc123_Zm9v-bar_baz") and not looks_like_jwt("a.b")
