"""Searching in the portal: results grid, not-reranked badge, the page viewer, image queries."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.browser.stack import Stack

pytestmark = pytest.mark.browser


def search(page: Any, text: str) -> None:
    page.fill("#q", text)
    page.press("#q", "Enter")
    page.wait_for_selector("#results .hit")


def test_search_shows_a_grid_of_pages(portal: Stack, open_portal: Any, artifacts_dir: Path) -> None:
    page = open_portal(portal, key=portal.keys["team-a"])
    page.wait_for_function("document.querySelector('#account-status').textContent.includes('team-a')")
    search(page, "lorem ipsum")

    hits = page.locator("#results .hit")
    assert hits.count() >= 1
    first = hits.first
    # Title, page number, highlighted snippet (real <mark> elements) and a numeric score.
    assert first.locator(".hit-title").inner_text().strip()
    assert re.match(r"Page \d+", first.locator(".hit-meta").inner_text())
    marks = page.locator("#results .snippet mark")
    assert marks.count() >= 1
    assert marks.first.inner_text().lower() in {"lorem", "ipsum"}
    assert re.fullmatch(r"\d+\.\d{3}", first.locator(".score").inner_text().strip())
    # The server runs without a reranker: the badge says so, with the reason.
    badge = page.locator("#not-reranked")
    assert badge.is_visible()
    assert badge.get_attribute("title")
    # Timings are shown, discreetly.
    assert "total" in page.locator(".timings").inner_text()
    # Thumbnails load (lazily, through authorised blob URLs).
    page.wait_for_function(
        "(() => { const i = document.querySelector('#results .hit img');"
        " return i && i.complete && i.naturalWidth > 0; })()"
    )
    # The query is kept in the address, so a reload shows the same search.
    assert "q=lorem+ipsum" in page.url
    page.wait_for_timeout(300)  # let the remaining visible thumbnails paint
    page.screenshot(path=str(artifacts_dir / "portal-results.png"), full_page=False)


def test_collection_filter_limits_results(portal: Stack, open_portal: Any) -> None:
    page = open_portal(portal, key=portal.keys["team-a"])
    page.wait_for_selector("#collection option[value='alpha']", state="attached")
    page.select_option("#mode", "bm25")  # keyword only: semantic search would find something anywhere
    search(page, "lorem ipsum")
    page.select_option("#collection", "public")
    page.wait_for_function("document.querySelector('#search-status').textContent.includes('No pages match')")
    assert page.locator("#results .hit").count() == 0
    page.select_option("#collection", "alpha")
    page.wait_for_selector("#results .hit")
    assert page.locator("#results .hit").count() >= 1


def test_opening_a_hit_shows_the_page_with_its_document(
    portal: Stack, open_portal: Any, artifacts_dir: Path
) -> None:
    page = open_portal(portal, key=portal.keys["team-a"])
    search(page, "printed")  # pdflatex-4-pages.pdf: "…what a printed text…"
    hit = page.locator("#results .hit").first
    hit.click()

    dialog = page.locator("#viewer")
    assert dialog.is_visible()
    page.wait_for_function(
        "(() => { const i = document.querySelector('#viewer-image');"
        " return i.src.startsWith('blob:') && i.complete && i.naturalWidth > 0; })()"
    )
    # The strip holds every page of the document, the current one marked.
    strip = page.locator("#viewer-strip .strip-page")
    strip.first.wait_for()
    assert strip.count() == 4
    current = page.locator("#viewer-strip [aria-current='page']")
    number = int(current.get_attribute("data-page") or "0")
    assert number >= 1
    link = page.locator("#viewer-pdf")
    # The original at that page, with the words for PDF viewers that search (pdf.js).
    href = link.get_attribute("href") or ""
    assert re.search(rf"^/v1/documents/[^/]+/file#page={number}&search=printed$", href)

    # Another page from the strip: image, marker and link follow.
    other = 4 if number != 4 else 1
    page.locator(f"#viewer-strip [data-page='{other}']").click()
    assert page.locator("#viewer-strip [aria-current='page']").get_attribute("data-page") == str(other)
    assert (link.get_attribute("href") or "").endswith(f"#page={other}&search=printed")
    assert f"page {other}" in (page.locator("#viewer-image").get_attribute("alt") or "")
    page.wait_for_function(
        "(() => { const i = document.querySelector('#viewer-image');"
        " return i.src.startsWith('blob:') && i.complete && i.naturalWidth > 0; })()"
    )
    page.screenshot(path=str(artifacts_dir / "portal-viewer.png"))

    # The original PDF is served at that link (with the key, as the portal fetches it).
    href = (link.get_attribute("href") or "").split("#")[0]
    with portal.client(portal.keys["team-a"]) as client:
        pdf = client.get(href)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    page.keyboard.press("Escape")
    assert not dialog.is_visible()


def test_search_by_image(portal: Stack, open_portal: Any, tmp_path: Path) -> None:
    # A page image of an indexed document is the query: its own page should come back.
    key = portal.keys["team-b"]
    with portal.client(key) as client:
        found = client.post("/v1/search", json={"query": "lorem ipsum", "mode": "bm25", "top_n": 1}).json()
        target = found["hits"][0]
        image = client.get(target["image_url"])
    assert image.status_code == 200
    query_image = tmp_path / "query.png"
    query_image.write_bytes(image.content)

    page = open_portal(portal, key=key)
    page.set_input_files("#image-pick", str(query_image))
    page.wait_for_selector("#results .hit")
    assert page.locator("#image-query").is_visible()
    assert "this image" in page.locator("#search-status").inner_text()
    ids = page.locator("#results .hit").evaluate_all("els => els.map(e => e.dataset.pageId)")
    assert target["page_id"] in ids

    # Removing the image returns to text search.
    page.click("#image-query-clear")
    assert not page.locator("#image-query").is_visible()


def test_pasted_image_becomes_the_query(portal: Stack, open_portal: Any) -> None:
    page = open_portal(portal, key=portal.keys["team-b"])
    page.wait_for_function("document.querySelector('#account-status').textContent.includes('team-b')")
    # A synthetic paste event carrying a small PNG drawn on a canvas.
    page.evaluate(
        """async () => {
          const c = document.createElement('canvas'); c.width = 320; c.height = 120;
          const g = c.getContext('2d'); g.fillStyle = '#fff'; g.fillRect(0, 0, 320, 120);
          g.fillStyle = '#000'; g.font = '48px sans-serif'; g.fillText('Lorem ipsum', 10, 75);
          const blob = await new Promise((r) => c.toBlob(r, 'image/png'));
          const data = new DataTransfer();
          data.items.add(new File([blob], 'pasted.png', { type: 'image/png' }));
          document.body.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true }));
        }"""
    )
    page.wait_for_function("document.querySelector('#search-status').textContent.includes('this image')")
    assert page.locator("#image-query-name").inner_text() == "pasted.png"
    assert not page.locator("#search-status .error").count()


def test_snippets_are_inserted_as_html_only_when_they_hold_just_text_and_marks(
    portal: Stack, open_portal: Any
) -> None:
    page = open_portal(portal, key=portal.keys["team-a"])
    page.wait_for_function("document.querySelector('#account-status').textContent.includes('team-a')")
    rendered = page.evaluate(
        """async () => {
          const { snippetNode } = await import('/static/js/dom.js');
          const ok = snippetNode('a &lt;b&gt; <mark>term</mark> &amp; more');
          const bad = snippetNode('<img src=x onerror="window.pwned=1"><mark>x</mark>');
          document.body.append(bad);
          await new Promise((r) => setTimeout(r, 100));
          return { okHtml: ok.innerHTML, okMarks: ok.querySelectorAll('mark').length,
                   badTags: bad.querySelectorAll('*').length, badText: bad.textContent,
                   pwned: Boolean(window.pwned) };
        }"""
    )
    assert rendered["okMarks"] == 1
    assert rendered["okHtml"] == "a &lt;b&gt; <mark>term</mark> &amp; more"
    # Anything beyond <mark> falls back to plain text: no element, no script.
    assert rendered["badTags"] == 0
    assert rendered["badText"] == "x"
    assert rendered["pwned"] is False


def test_related_words_expand_keyword_searches_only(portal: Stack, open_portal: Any) -> None:
    page = open_portal(portal, key=portal.keys["team-a"])
    option = page.locator("#feedback-option")
    assert not option.is_visible()  # hybrid: the option does not apply
    page.select_option("#mode", "bm25")
    assert option.is_visible()
    search(page, "lorem ipsum")
    plain = page.locator("#results .hit").count()

    def searched(action: Any) -> dict[str, Any]:
        with page.expect_request(lambda r: r.url.endswith("/v1/search") and r.method == "POST") as sent:
            action()
        page.wait_for_selector("#results[aria-busy]", state="detached")
        body: dict[str, Any] = sent.value.post_data_json
        return body

    body = searched(lambda: page.check("#feedback"))
    assert body["mode"] == "bm25" and body["feedback"] is True
    assert page.locator("#results .hit").count() >= plain  # the expanded query keeps every match
    assert "feedback=1" in page.url
    page.reload()  # the address keeps it
    page.wait_for_selector("#results .hit")
    assert page.locator("#feedback").is_checked() and option.is_visible()
    body = searched(lambda: page.select_option("#mode", "hybrid"))
    assert "feedback" not in body and not option.is_visible()
