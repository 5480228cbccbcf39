"""Errors the API's services raise; `search_api.errors` maps each to its status code once."""

from __future__ import annotations


class InvalidRequest(ValueError):
    """The request cannot be served as asked (400)."""


class ServiceUnavailable(RuntimeError):
    """Something the request needs is not available right now (503)."""
