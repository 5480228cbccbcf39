"""Progress on stderr: a tqdm bar (pages/s) on a terminal, periodic lines otherwise, nothing
with --quiet."""

from __future__ import annotations

import sys
import time
from typing import Any


class Progress:
    def __init__(self, quiet: bool = False, interval: float = 10.0) -> None:
        self.quiet = quiet
        self.pages = 0
        self.total = 0
        self.files = 0
        self._start = time.monotonic()
        self._last_line = self._start
        self._interval = interval
        self._bar: Any = None
        if not quiet and sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=0, unit="page", file=sys.stderr, dynamic_ncols=True, smoothing=0.1)

    def add_total(self, pages: int) -> None:
        self.total += pages
        if self._bar is not None:
            self._bar.total = self.total
            self._bar.refresh()

    def advance(self, pages: int = 1, source: str | None = None) -> None:
        self.pages += pages
        if self._bar is not None:
            if source:
                self._bar.set_postfix_str(source[-40:], refresh=False)
            self._bar.update(pages)
        elif not self.quiet and time.monotonic() - self._last_line >= self._interval:
            self._last_line = time.monotonic()
            self._line()

    def note(self, message: str) -> None:
        """A one-off message that must not garble the bar."""
        if self._bar is not None:
            self._bar.write(message, file=sys.stderr)
        elif not self.quiet:
            print(message, file=sys.stderr, flush=True)

    def _line(self) -> None:
        elapsed = max(time.monotonic() - self._start, 1e-9)
        print(
            f"folio index: {self.pages}/{self.total} pages, {self.pages / elapsed:.1f} pages/s",
            file=sys.stderr,
            flush=True,
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
