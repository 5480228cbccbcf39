"""Portal sessions, kept in the store's shared state (the `sessions` record table), so any API
replica on the store accepts a session another one created. The browser holds only the session's
id (an HttpOnly cookie) and its CSRF token; the store keeps the id's SHA-256, never the id, and
the session's tokens, which never reach the browser.

A session is one of:
- `key`: signed in with an API key; the key id is kept (the key itself is not), and the key must
  still be live on every request, so revoking it ends the session;
- `oidc`: signed in with the identity provider; its access, refresh and ID tokens are kept, the
  access token is refreshed when it expires, and a refused refresh ends the session.
A pending sign-in (`login`: state, nonce, PKCE verifier) lives a few minutes under its `state`."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from docstore.shared_state import Record, SharedState

LOGIN_TTL_S = 600.0  # how long a sign-in at the provider may take


@dataclass
class Session:
    kind: str  # "key" | "oidc"
    csrf: str
    expires_at: float
    data: dict[str, Any] = field(default_factory=dict)
    record: Record | None = None  # as read, for a conditional update


def _record_id(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class Sessions:
    def __init__(self, shared: SharedState, lifetime_s: float) -> None:
        self._records = shared.records("sessions")
        self.lifetime_s = lifetime_s

    def create(self, kind: str, data: dict[str, Any]) -> tuple[str, Session]:
        """(the session id for the cookie, the session)."""
        self._forget_expired()
        session_id = secrets.token_urlsafe(32)
        session = Session(kind, secrets.token_urlsafe(24), time.time() + self.lifetime_s, data)
        self._records.put(_record_id(session_id), self._body(session), create_only=True)
        return session_id, session

    def get(self, session_id: str) -> Session | None:
        """The live session of a cookie, None when there is none (ended, expired, unknown)."""
        if not session_id or len(session_id) > 200:
            return None
        found = self._records.get(_record_id(session_id))
        if found is None or found.source.get("kind") not in ("key", "oidc"):
            return None
        if float(found.source.get("expires_at", 0)) < time.time():
            self._records.delete([found.id])
            return None
        data = dict(found.source.get("data") or {})
        return Session(
            found.source["kind"], str(data.pop("csrf", "")), found.source["expires_at"], data, found
        )

    def update(self, session: Session) -> bool:
        """Write a session back (its refreshed tokens); False when another request changed it first."""
        if session.record is None:
            return False
        return self._records.put(session.record.id, self._body(session), expect=session.record)

    def end(self, session_id: str) -> None:
        self._records.delete([_record_id(session_id)])

    def start_login(self, data: dict[str, Any]) -> str:
        """Keep a pending sign-in; returns its `state`."""
        state = secrets.token_urlsafe(24)
        body = {"kind": "login", "expires_at": time.time() + LOGIN_TTL_S, "data": data}
        self._records.put(_record_id(state), body, create_only=True)
        return state

    def finish_login(self, state: str) -> dict[str, Any] | None:
        """The pending sign-in of `state`, once (it is deleted); None when unknown or expired."""
        if not state or len(state) > 200:
            return None
        found = self._records.get(_record_id(state))
        if found is None or found.source.get("kind") != "login":
            return None
        self._records.delete([found.id])
        if float(found.source.get("expires_at", 0)) < time.time():
            return None
        return dict(found.source.get("data") or {})

    def _body(self, session: Session) -> dict[str, Any]:
        return {
            "kind": session.kind,
            "expires_at": session.expires_at,
            "data": {**session.data, "csrf": session.csrf},
        }

    def _forget_expired(self) -> None:
        self._records.delete(self._records.older_than("expires_at", time.time()))
