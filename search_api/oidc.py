"""Access tokens from an OpenID Connect provider (Keycloak, Entra ID, Okta, ...): a JWT is checked
against the issuer's published keys (PyJWT does the JOSE work) and its groups claim becomes the
caller's groups. The provider's discovery document and key set are fetched on first use and kept;
a token signed with a key not yet seen refetches the key set, at most once per `refresh_interval_s`,
so rotated keys are picked up without letting forged `kid`s hammer the provider."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from search_api.service_errors import ServiceUnavailable
from search_api.settings import Settings

# Asymmetric signatures only: `none` would accept anything, and HMAC with the provider's public
# key as the secret would let anyone who reads the key set sign tokens.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
FAILURE_RETRY_S = 5.0  # how long a failed fetch of the provider's keys answers for it
_JWT = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")


class TokenRejected(Exception):
    """The token is not valid here (401 with an RFC 6750 `invalid_token` challenge)."""


class ProviderUnavailable(ServiceUnavailable):
    """The provider's discovery document or key set cannot be fetched, so the token cannot be checked."""


def looks_like_jwt(value: str) -> bool:
    """Three base64url parts (the signature may be empty, as in an `alg: none` token)."""
    return bool(_JWT.match(value))


def group_names(claim: Any) -> list[str]:
    """The groups claim as Folio groups: Keycloak's full paths lose their leading slash (`/staff`
    and `staff` are both `staff`); a nested group keeps the rest of its path (`/eng/search` is
    `eng/search`), so two subgroups of the same name under different parents stay apart."""
    values = [claim] if isinstance(claim, str) else claim if isinstance(claim, list) else []
    names = (v.strip().removeprefix("/") for v in values if isinstance(v, str))
    return list(dict.fromkeys(n for n in names if n))


@dataclass(frozen=True)
class TokenCaller:
    subject: str
    groups: list[str]
    admin: bool
    name: str | None = None  # the person's name (`name`, else `preferred_username`), when the token has one


class OidcVerifier:
    def __init__(
        self,
        issuer: str,
        audience: str,
        groups_claim: str = "groups",
        admin_group: str | None = None,
        leeway_s: float = 30.0,
        timeout_s: float = 5.0,
        refresh_interval_s: float = 30.0,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.audience = audience
        self.groups_claim = groups_claim
        self.admin_group = admin_group.removeprefix("/") if admin_group else None
        self.leeway_s = leeway_s
        self.timeout_s = timeout_s
        self.refresh_interval_s = refresh_interval_s
        self._lock = threading.Lock()
        self._jwks_uri: str | None = None
        self._discovery: dict[str, Any] = {}
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._failure: ProviderUnavailable | None = None  # the last fetch's, while it is recent

    def verify(self, token: str) -> TokenCaller:
        """The caller a valid token names; TokenRejected for any invalid one, ProviderUnavailable when
        the key that would check it cannot be fetched."""
        claims = self.claims(token, self.audience)
        groups = group_names(claims.get(self.groups_claim))
        admin = self.admin_group is not None and self.admin_group in groups
        name = claims.get("name") or claims.get("preferred_username")
        return TokenCaller(str(claims["sub"]), groups, admin, str(name) if name else None)

    def endpoint(self, name: str) -> str:
        """An endpoint the discovery document names (`authorization_endpoint`, `token_endpoint`,
        `end_session_endpoint`); ProviderUnavailable when it names none."""
        with self._lock:
            if not self._discovery:  # the key set is not fetched here: `_fetched_at` stays the key set's
                self._discover()
        url = self._discovery.get(name)
        if not isinstance(url, str):
            raise ProviderUnavailable(f"the identity provider's discovery document has no {name}")
        return url

    def claims(self, token: str, audience: str) -> dict[str, Any]:
        """The claims of a valid token for `audience` (an access token for Folio's audience, an ID
        token for its client id)."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenRejected(f"malformed token: {exc}") from exc
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise TokenRejected(f"signing algorithm {alg!r} is not accepted")
        key = self._key(header.get("kid"))
        try:
            claims = jwt.decode(
                token, key, algorithms=[alg], audience=audience, issuer=self.issuer,
                leeway=self.leeway_s, options={"require": ["exp", "iss", "aud", "sub"]},
            )  # fmt: skip
        except jwt.ExpiredSignatureError as exc:
            raise TokenRejected("the token has expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise TokenRejected("the token is not valid yet") from exc
        except jwt.InvalidAudienceError as exc:
            raise TokenRejected(f"the token is not issued for {audience!r}") from exc
        except jwt.InvalidIssuerError as exc:
            raise TokenRejected(f"the token is not issued by {self.issuer}") from exc
        except jwt.InvalidSignatureError as exc:
            raise TokenRejected("the token's signature does not verify") from exc
        except jwt.PyJWTError as exc:
            raise TokenRejected(f"invalid token: {exc}") from exc
        return claims

    def _key(self, kid: Any) -> jwt.PyJWK:
        with self._lock:
            key = self._lookup(kid)
            if key is not None:
                return key
            if self._failure is not None and time.monotonic() - self._fetched_at < FAILURE_RETRY_S:
                raise ProviderUnavailable(str(self._failure))
            if self._failure is None and time.monotonic() - self._fetched_at < self.refresh_interval_s:
                raise TokenRejected("the token is signed with a key the issuer does not publish")
            try:
                self._refresh()
                self._failure = None
            except ProviderUnavailable as exc:
                self._failure = exc
                raise
            key = self._lookup(kid)
        if key is None:
            raise TokenRejected("the token is signed with a key the issuer does not publish")
        return key

    def _lookup(self, kid: Any) -> jwt.PyJWK | None:
        if kid is None and len(self._keys) == 1:  # a provider with one key may leave `kid` out
            return next(iter(self._keys.values()))
        return self._keys.get(kid) if isinstance(kid, str) else None

    def _refresh(self) -> None:
        # The attempt counts even when it fails: a provider that is down is asked again only
        # after FAILURE_RETRY_S, and tokens meanwhile get 503 without waiting on it.
        self._fetched_at = time.monotonic()
        if self._jwks_uri is None:
            self._discover()
        assert self._jwks_uri is not None
        jwks = self._get_json(self._jwks_uri)
        try:
            keys = jwt.PyJWKSet.from_dict(jwks).keys
        except jwt.PyJWTError as exc:
            raise ProviderUnavailable(f"the issuer's key set is unusable: {exc}") from exc
        self._keys = {k.key_id: k for k in keys if k.key_id and k.public_key_use in (None, "sig")}

    def _discover(self) -> None:
        discovery = self._get_json(f"{self.issuer}/.well-known/openid-configuration")
        if discovery.get("issuer", "").rstrip("/") != self.issuer:
            raise ProviderUnavailable(
                f"the discovery document names issuer {discovery.get('issuer')!r}, not {self.issuer}"
            )
        if not isinstance(discovery.get("jwks_uri"), str):
            raise ProviderUnavailable("the discovery document has no jwks_uri")
        self._jwks_uri = discovery["jwks_uri"]
        self._discovery = discovery

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            resp = httpx.get(url, timeout=self.timeout_s, follow_redirects=True)
            resp.raise_for_status()
            body = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderUnavailable(f"the identity provider did not answer {url}: {exc}") from exc
        if not isinstance(body, dict):
            raise ProviderUnavailable(f"{url} did not return a JSON object")
        return body


def build_verifier(settings: Settings) -> OidcVerifier | None:
    """The verifier for `settings`, None when no issuer is set; ValueError for an incomplete set-up."""
    if not settings.oidc_issuer:
        return None
    audience = settings.oidc_audience or settings.oidc_client_id
    if not audience:
        raise ValueError(
            "--oidc-issuer needs --oidc-client-id (or --oidc-audience): the audience tokens must carry"
        )
    return OidcVerifier(
        settings.oidc_issuer,
        audience,
        settings.oidc_groups_claim,
        settings.oidc_admin_group,
        settings.oidc_leeway_s,
    )
