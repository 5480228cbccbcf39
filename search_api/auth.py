"""Who is calling: an API key bound to groups, an admin key, a person with an access token from the
OpenID Connect provider (its groups claim as their groups), or an anonymous caller."""

from __future__ import annotations

from fastapi import HTTPException, Request
from pydantic import BaseModel, Field

from search_api.keys import KeyStore
from search_api.oidc import OidcVerifier, looks_like_jwt


class Caller(BaseModel):
    anonymous: bool
    key_id: str | None = None
    groups: list[str] = Field(default_factory=list)
    admin: bool = False

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
        return Caller(anonymous=False, groups=person.groups, admin=person.admin)
    if token is not None:
        record = keys.verify(token)
        if record is None:
            raise HTTPException(status_code=401, detail="invalid or revoked API key")
        return Caller(anonymous=False, key_id=record.key_id, groups=record.groups, admin=record.admin)
    if request.app.state.settings.anonymous:
        return Caller(anonymous=True)
    raise HTTPException(
        status_code=401,
        detail="an API key is required: send 'Authorization: Bearer <key>' (create one with 'folio keys create')",
        headers={"WWW-Authenticate": "Bearer"},
    )


def require_admin(caller: Caller) -> None:
    if not caller.admin:
        raise HTTPException(status_code=403, detail="this operation needs an admin key")
