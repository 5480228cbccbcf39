"""Signing in to the portal through Folio's server (backend-for-frontend): the authorization-code
flow with PKCE (S256), `state` and `nonce` at the identity provider, the code exchanged with the
client secret, the tokens kept in a server-side session (search_api.sessions); and sign-in with an
API key into the same kind of session. `caller_data` turns a session into who is calling, with the
same verifier as bearer tokens, refreshing an expired access token with the refresh token."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from search_api.keys import KeyStore
from search_api.oidc import OidcVerifier, ProviderUnavailable, TokenRejected
from search_api.service_errors import InvalidRequest
from search_api.sessions import Session, Sessions

REFRESH_MARGIN_S = 10.0  # refresh an access token this long before it expires


class SessionEnded(Exception):
    """The session is gone: its key was revoked, or the provider refused to refresh it."""


@dataclass(frozen=True)
class SessionCaller:
    key_id: str | None
    name: str | None
    groups: list[str]
    admin: bool


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class PortalLogin:
    def __init__(
        self, sessions: Sessions, keys: KeyStore, oidc: OidcVerifier | None,
        client_id: str | None, client_secret: str | None, scope: str = "openid", timeout_s: float = 10.0,
    ) -> None:  # fmt: skip
        self.sessions = sessions
        self._keys = keys
        self._oidc = oidc
        self._client_id = client_id or ""
        self._client_secret = client_secret
        self._scope = scope
        self._timeout_s = timeout_s

    @property
    def oidc_enabled(self) -> bool:
        return self._oidc is not None and bool(self._client_id)

    def _provider(self) -> OidcVerifier:
        if self._oidc is None or not self._client_id:
            raise InvalidRequest("sign-in with an identity provider is not set up on this server")
        return self._oidc

    def login_url(self, redirect_uri: str) -> tuple[str, str]:
        """(the provider's authorization URL, the `state` it carries)."""
        provider = self._provider()
        verifier, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(24)
        state = self.sessions.start_login(
            {"verifier": verifier, "nonce": nonce, "redirect_uri": redirect_uri}
        )
        query = {
            "response_type": "code", "client_id": self._client_id, "redirect_uri": redirect_uri,
            "scope": self._scope, "state": state, "nonce": nonce,
            "code_challenge": _challenge(verifier), "code_challenge_method": "S256",
        }  # fmt: skip
        return f"{provider.endpoint('authorization_endpoint')}?{urlencode(query)}", state

    def finish(self, state: str, code: str) -> tuple[str, Session]:
        """Exchange the code of a sign-in; (session id, session). InvalidRequest for an unknown or
        used state, a refused code, or an ID token that does not carry the sign-in's nonce."""
        provider = self._provider()
        pending = self.sessions.finish_login(state)
        if pending is None:
            raise InvalidRequest("unknown or expired sign-in (state); start again")
        tokens = self._token_request({
            "grant_type": "authorization_code", "code": code, "redirect_uri": pending["redirect_uri"],
            "code_verifier": pending["verifier"],
        })  # fmt: skip
        if tokens is None:
            raise InvalidRequest("the identity provider refused the sign-in code")
        try:
            id_claims = provider.claims(str(tokens.get("id_token", "")), self._client_id)
            person = provider.verify(str(tokens.get("access_token", "")))
        except TokenRejected as exc:
            raise InvalidRequest(f"the identity provider's tokens are not valid: {exc}") from exc
        if not secrets.compare_digest(str(id_claims.get("nonce", "")), pending["nonce"]):
            raise InvalidRequest("the ID token does not carry this sign-in's nonce")
        name = id_claims.get("name") or id_claims.get("preferred_username") or person.name or person.subject
        return self.sessions.create("oidc", {"name": str(name), **self._token_data(tokens)})

    def key_session(self, key: str) -> tuple[str, Session]:
        record = self._keys.verify(key)
        if record is None:
            raise TokenRejected("invalid or revoked API key")
        return self.sessions.create("key", {"key_id": record.key_id})

    def caller_data(self, session: Session) -> SessionCaller:
        """Who a live session is; SessionEnded (after ending it in the store) when it is over."""
        if session.kind == "key":
            record = self._keys.active(str(session.data.get("key_id", "")))
            if record is None:
                raise SessionEnded("the API key of this session was revoked")
            return SessionCaller(record.key_id, record.name or None, record.groups, record.admin)
        provider = self._provider()
        if float(session.data.get("access_expires_at", 0)) < time.time() + REFRESH_MARGIN_S:
            self._refresh(session)
        try:
            person = provider.verify(str(session.data.get("access_token", "")))
        except TokenRejected as exc:
            raise SessionEnded(str(exc)) from exc
        return SessionCaller(None, session.data.get("name"), person.groups, person.admin)

    def logout_url(self, session: Session | None, after: str) -> str | None:
        """Where the browser goes to end the provider's session too (RP-initiated logout); None for
        a key session or a provider without an end-session endpoint."""
        if session is None or session.kind != "oidc" or not self.oidc_enabled:
            return None
        try:
            endpoint = self._provider().endpoint("end_session_endpoint")
        except ProviderUnavailable:
            return None
        query = {"id_token_hint": session.data.get("id_token", ""), "post_logout_redirect_uri": after,
                 "client_id": self._client_id}  # fmt: skip
        return f"{endpoint}?{urlencode(query)}"

    def _refresh(self, session: Session) -> None:
        tokens = self._token_request(
            {"grant_type": "refresh_token", "refresh_token": str(session.data.get("refresh_token", ""))}
        )
        if tokens is None:
            raise SessionEnded("the identity provider refused to refresh the session")
        session.data.update(self._token_data(tokens, keep=session.data))
        self.sessions.update(session)  # another replica refreshing at once wins; both tokens are valid

    def _token_request(self, form: dict[str, str]) -> dict[str, Any] | None:
        """The token endpoint's answer; None when it refuses (4xx), ProviderUnavailable when down."""
        form = {**form, "client_id": self._client_id}
        if self._client_secret:
            form["client_secret"] = self._client_secret
        url = self._provider().endpoint("token_endpoint")
        try:
            resp = httpx.post(url, data=form, timeout=self._timeout_s)
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"the identity provider did not answer {url}: {exc}") from exc
        if 400 <= resp.status_code < 500:
            return None
        if resp.status_code != 200:
            raise ProviderUnavailable(f"the identity provider answered {resp.status_code} at {url}")
        body = resp.json()
        return body if isinstance(body, dict) else None

    @staticmethod
    def _token_data(tokens: dict[str, Any], keep: dict[str, Any] | None = None) -> dict[str, Any]:
        keep = keep or {}
        return {
            "access_token": tokens.get("access_token", ""),
            "access_expires_at": time.time() + float(tokens.get("expires_in", 60)),
            # A provider may keep the refresh and ID tokens it issued before.
            "refresh_token": tokens.get("refresh_token") or keep.get("refresh_token", ""),
            "id_token": tokens.get("id_token") or keep.get("id_token", ""),
        }
