"""Shared route helpers: the app's services and ACL checks."""

from __future__ import annotations

from fastapi import Request

from search_api.services import Services


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def visible(acl: list[str], groups: list[str] | None) -> bool:
    """The same rule the stores apply: no restriction, a public page, or a shared group."""
    return groups is None or not acl or bool(set(acl) & set(groups))
