"""Uploading documents from the portal: progress, the indexing job's status, plain-word errors."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from tests.browser.stack import Stack

pytestmark = pytest.mark.browser


def upload_row(page: Any, name: str) -> Any:
    return page.locator(".upload-item", has=page.locator(".upload-name", has_text=name))


def wait_final(page: Any, name: str) -> Any:
    row = upload_row(page, name)
    row.wait_for()
    page.wait_for_function(
        """(name) => [...document.querySelectorAll('.upload-item')].some((li) =>
             li.querySelector('.upload-name').textContent === name
             && ['ok', 'error'].includes(li.dataset.state))""",
        arg=name,
        timeout=120_000,
    )
    return row


def test_upload_indexes_pdfs_and_explains_failures(
    portal: Stack, open_portal: Any, shared_pdfs: Path, tmp_path: Path
) -> None:
    page = open_portal(portal, key=portal.keys["team-a"])
    page.wait_for_function("document.querySelector('#account-status').textContent.includes('team-a')")
    page.fill("#upload-collection", "uploads")
    page.fill("#upload-groups", "team-a")
    not_a_document = tmp_path / "notes.exe"
    not_a_document.write_bytes(b"MZ\x90\x00")
    page.set_input_files(
        "#upload-pick",
        [
            str(shared_pdfs / "google-doc-document.pdf"),
            str(shared_pdfs / "libreoffice-writer-password.pdf"),
            str(not_a_document),
        ],
    )

    good = wait_final(page, "google-doc-document.pdf")
    assert good.get_attribute("data-state") == "ok", good.inner_text()
    assert "Indexed" in good.locator(".upload-state").inner_text()
    assert "1 page" in good.locator(".upload-state").inner_text()

    encrypted = wait_final(page, "libreoffice-writer-password.pdf")
    assert encrypted.get_attribute("data-state") == "error"
    assert "password-protected" in encrypted.locator(".upload-state").inner_text()

    wrong = wait_final(page, "notes.exe")
    assert wrong.get_attribute("data-state") == "error"
    assert "not supported" in wrong.locator(".upload-state").inner_text()

    # The new collection appears in the filter, and the uploaded page is searchable.
    page.wait_for_selector("#collection option[value='uploads']", state="attached")
    page.select_option("#collection", "uploads")
    page.fill("#q", "explicit is better than implicit")
    page.press("#q", "Enter")
    page.wait_for_selector("#results .hit")
    # Only the uploaded document is in that collection.
    assert page.locator("#results .hit").count() == 1


def test_dropped_damaged_pdf_is_reported_in_plain_words(portal: Stack, open_portal: Any) -> None:
    page = open_portal(portal, key=portal.keys["team-b"])
    page.wait_for_function("document.querySelector('#account-status').textContent.includes('team-b')")
    # A PDF header followed by garbage, dropped onto the upload area as a real drag-and-drop would.
    damaged = base64.b64encode(b"%PDF-1.7\n" + bytes(range(256)) * 4 + b"\n%%EOF").decode()
    page.evaluate(
        """(b64) => {
          const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
          const data = new DataTransfer();
          data.items.add(new File([bytes], 'damaged.pdf', { type: 'application/pdf' }));
          const zone = document.getElementById('dropzone');
          for (const type of ['dragenter', 'dragover', 'drop']) {
            zone.dispatchEvent(new DragEvent(type, { dataTransfer: data, bubbles: true, cancelable: true }));
          }
        }""",
        damaged,
    )
    row = wait_final(page, "damaged.pdf")
    assert row.get_attribute("data-state") == "error"
    assert "damaged" in row.locator(".upload-state").inner_text()
    # The upload itself completed (the bar reached the end) before the indexer's verdict.
    assert row.locator("progress").evaluate("p => p.value") == 100
