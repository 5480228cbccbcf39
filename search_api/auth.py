"""Who is calling: an API key bound to groups, an admin key, a person with an access token from the
OpenID Connect provider (its groups claim as their groups), a portal session (a cookie; see
search_api.portal_login), or an anonymous caller. A cookie session's state-changing requests must
echo its CSRF token (the `folio_csrf` cookie) in `X-CSRF-Token`: a cross-site page can make the
browser send the cookie but cannot read the token. Bearer calls carry no ambient credential and
need none."""

from __future__ import annotations

import secrets

from fastapi import HTTPException, Request
from pydantic import BaseModel, Field

from search_api.keys import KeyStore
from search_api.oidc import OidcVerifier, looks_like_jwt
from search_api.portal_login import PortalLogin, SessionEnded

SESSION_COOKIE = "folio_session"
CSRF_COOKIE = "folio_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class Caller(BaseModel):
    anonymous: bool
    key_id: str | None = None
    groups: list[str] = Field(default_factory=list)
    admin: bool = False
    name: str | None = None

    def acl_groups(self) -> list[str] | None:
        """What goes into Filters.groups: None (no restriction) for admins; anonymous callers
        get [] so only public pages (empty ACL) match."""
        return None if self.admin else list(self.groups)

    def may_change(self, acl: list[str]) -> bool:
        """Whether this caller may delete or replace a document with this ACL: admins any, a key
        only one restricted entirely to its own groups (never a public one)."""
        return self.admin or (bool(acl) and set(acl) <= set(self.groups))


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def get_caller(request: Request) -> Caller:
    """FastAPI dependency: 401 without a valid key or token unless anonymous access is on. A JWT goes
    to the provider's verifier when one is set up (its errors are mapped in search_api.errors);
    anything else is an API key."""
    token = _bearer(request)
    keys: KeyStore = request.app.state.keys
    oidc: OidcVerifier | None = request.app.state.oidc
    if token is not None and oidc is not None and looks_like_jwt(token):
        person = oidc.verify(token)
        return Caller(anonymous=False, groups=person.groups, admin=person.admin, name=person.name)
    if token is not None:
        record = keys.verify(token)
        if record is None:
            raise HTTPException(status_code=401, detail="invalid or revoked API key")
        return Caller(anonymous=False, key_id=record.key_id, groups=record.groups, admin=record.admin)
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        caller = _session_caller(request, session_id)
        if caller is not None:
            return caller
    if request.app.state.settings.anonymous:
        return Caller(anonymous=True)
    raise HTTPException(
        status_code=401,
        detail="an API key is required: send 'Authorization: Bearer <key>' (create one with 'folio keys create')",
        headers={"WWW-Authenticate": "Bearer"},
    )


def _session_caller(request: Request, session_id: str) -> Caller | None:
    """The caller of a live cookie session (None when it is gone); 403 for a state-changing request
    without the session's CSRF token."""
    login: PortalLogin = request.app.state.portal_login
    session = login.sessions.get(session_id)
    if session is None:
        return None
    if request.method not in SAFE_METHODS and not secrets.compare_digest(
        request.headers.get(CSRF_HEADER, ""), session.csrf
    ):
        raise HTTPException(
            status_code=403, detail="missing or wrong CSRF token (send the folio_csrf cookie as X-CSRF-Token)"
        )
    try:
        who = login.caller_data(session)
    except SessionEnded:
        login.sessions.end(session_id)
        return None
    return Caller(anonymous=False, key_id=who.key_id, groups=who.groups, admin=who.admin, name=who.name)


def require_admin(caller: Caller) -> None:
    if not caller.admin:
        raise HTTPException(status_code=403, detail="this operation needs an admin key")
