"""Signing in, group isolation and anonymous access, as a user sees them in the portal."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.stack import Stack

pytestmark = pytest.mark.browser


_COLLECTION_OF: dict[str, str] = {}


def visible_collections(page: Any) -> set[str]:
    """Collections of the hits on screen, read from the pages the API says they belong to."""
    ids = page.locator("#results .hit").evaluate_all("els => els.map(e => e.dataset.pageId)")
    return {_COLLECTION_OF[i] for i in ids}


def _learn_collections(portal: Stack) -> None:
    """page_id -> collection for every page, asked of the API with each group's key."""
    for key in portal.keys.values():
        with portal.client(key) as client:
            for doc in client.get("/v1/documents").json()["documents"]:
                pages = client.get(f"/v1/documents/{doc['doc_id']}/pages").json()["pages"]
                _COLLECTION_OF.update({p["page_id"]: doc["collection"] for p in pages})


def session_cookie(page: Any) -> dict[str, Any] | None:
    return next((c for c in page.context.cookies() if c["name"] == "folio_session"), None)


def sign_in(page: Any, key: str) -> None:
    page.locator("#signin").wait_for(state="visible")
    page.fill("#signin-key", key)
    page.press("#signin-key", "Enter")


def test_a_401_shows_the_sign_in_form_and_a_bad_key_is_refused(portal: Stack, open_portal: Any) -> None:
    page = open_portal(portal)
    # No key and no anonymous access: the portal asks for one straight away.
    page.locator("#signin").wait_for(state="visible")
    assert page.locator("#signin-key").evaluate("el => el === document.activeElement")
    sign_in(page, "folio_not_a_real_key")
    page.wait_for_function("document.querySelector('#signin-error').textContent.length > 0")
    assert "not valid" in page.locator("#signin-error").inner_text()
    assert page.locator("#signin").is_visible()
    assert session_cookie(page) is None


def test_each_key_sees_only_its_groups_pages(portal: Stack, open_portal: Any) -> None:
    _learn_collections(portal)
    page = open_portal(portal)
    sign_in(page, portal.keys["team-a"])
    page.wait_for_function("document.querySelector('#account-status').textContent.includes('team-a')")
    assert page.locator("#signout").is_visible()
    assert not page.locator("#signin-open").is_visible()
    # The key stays on the server: the browser holds a cookie its scripts cannot read.
    cookie = session_cookie(page)
    assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert portal.keys["team-a"] not in page.evaluate("document.cookie + JSON.stringify(localStorage)")

    page.fill("#q", "lorem ipsum")
    page.press("#q", "Enter")
    page.wait_for_selector("#results .hit")
    seen_a = visible_collections(page)
    assert "alpha" in seen_a
    assert "beta" not in seen_a
    options = set(page.locator("#collection option").evaluate_all("els => els.map(e => e.value)"))
    assert "alpha" in options and "beta" not in options

    # Sign out: the session ends, and the next request brings back the sign-in form.
    page.click("#signout")
    page.locator("#signin").wait_for(state="visible")
    assert session_cookie(page) is None
    assert page.locator("#results .hit").count() == 0
    sign_in(page, portal.keys["team-b"])
    page.wait_for_function("document.querySelector('#account-status').textContent.includes('team-b')")
    # Signing out cleared team-a's results; signing in re-runs the last search with the new key.
    page.wait_for_selector("#results .hit")
    seen_b = visible_collections(page)
    assert "beta" in seen_b
    assert "alpha" not in seen_b


def test_anonymous_access_searches_public_pages_without_a_key(
    anonymous_portal: Stack, open_portal: Any
) -> None:
    _learn_collections(anonymous_portal)
    page = open_portal(anonymous_portal)
    page.wait_for_function("document.querySelector('#account-status').textContent.includes('anonymously')")
    assert not page.locator("#signin").is_visible()
    # One may still sign in to see more; there is nothing to sign out of.
    assert page.locator("#signin-open").is_visible()
    assert not page.locator("#signout").is_visible()
    page.fill("#q", "crazy ones")
    page.press("#q", "Enter")
    page.wait_for_selector("#results .hit")
    assert visible_collections(page) == {"public"}
    # Private pages stay hidden from anonymous callers: no keyword match outside "public".
    page.select_option("#mode", "bm25")
    page.fill("#q", "lorem ipsum")
    page.press("#q", "Enter")
    page.wait_for_function("document.querySelector('#search-status').textContent.includes('No pages match')")
    assert page.locator("#results .hit").count() == 0
