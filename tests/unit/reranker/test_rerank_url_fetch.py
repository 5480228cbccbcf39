"""Image URL fetching against a real local HTTP server, with a resolver hook standing in for DNS:
loopback is refused, every resolved address is checked, the host is resolved once per hop (so a
DNS answer that changes after the check cannot redirect the request), and the connection goes to
the checked address with the URL's own Host header."""

from __future__ import annotations

import contextlib
import http.server
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from reranker.errors import CandidateError, ImageTooLarge
from reranker.images import ImageLimits
from reranker.url_fetch import fetch_url

BODY = b"\x89PNG not really, but bytes the server sends"


class _Server:
    def __init__(self) -> None:
        self.hosts: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hosts.append(self.headers.get("Host", ""))
                if self.path == "/hop":
                    self.send_response(302)
                    self.send_header("Location", "/page.png")
                    self.end_headers()
                    return
                if self.path == "/trickle":  # a byte every 0.1 s: each read is quick, the whole is not
                    self.send_response(200)
                    self.send_header("Content-Length", "100")
                    self.end_headers()
                    for _ in range(100):
                        try:
                            self.wfile.write(b"x")
                            self.wfile.flush()
                        except OSError:
                            return  # the client gave up
                        time.sleep(0.1)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(BODY)))
                self.end_headers()
                self.wfile.write(BODY)

            def log_message(self, *a: Any) -> None:
                pass

        self.http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.http.server_address[1]


@pytest.fixture
def server() -> Iterator[_Server]:
    s = _Server()
    thread = threading.Thread(target=s.http.serve_forever, daemon=True)
    thread.start()
    yield s
    s.http.shutdown()
    s.http.server_close()


def _answers(*addresses: str) -> list[Any]:
    return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (a, 0)) for a in addresses]


class _Resolver:
    """Answers from a script, one answer per call (the last one repeats), counting the calls."""

    def __init__(self, *answers: list[Any]) -> None:
        self.answers = list(answers)
        self.calls: list[str] = []

    def __call__(self, host: str, port: int) -> list[Any]:
        self.calls.append(host)
        return self.answers[min(len(self.calls), len(self.answers)) - 1]


OPEN = ImageLimits(allow_urls=True, url_timeout_s=2)
TRUSTING = ImageLimits(allow_urls=True, allow_private_urls=True, url_timeout_s=2)


def test_loopback_is_refused_before_any_request(server: _Server) -> None:
    with pytest.raises(CandidateError, match="blocked.*127.0.0.1"):
        fetch_url(f"http://127.0.0.1:{server.port}/page.png", OPEN)
    resolver = _Resolver(_answers("127.0.0.1"))
    with pytest.raises(CandidateError, match="blocked"):
        fetch_url(f"http://images.example:{server.port}/page.png", OPEN, resolver)
    assert server.hosts == []


def test_every_resolved_address_is_checked(server: _Server) -> None:
    resolver = _Resolver(_answers("93.184.216.34", "127.0.0.1"))
    with pytest.raises(CandidateError, match="non-public address \\(127.0.0.1\\)"):
        fetch_url(f"http://images.example:{server.port}/page.png", OPEN, resolver)
    assert server.hosts == []


def test_a_rebinding_answer_is_never_asked_for(server: _Server) -> None:
    # A public answer for the check, loopback for any later lookup: the fetch must connect to the
    # checked public address (unreachable here), never look the name up again, never reach loopback.
    resolver = _Resolver(_answers("93.184.216.34"), _answers("127.0.0.1"))
    limits = ImageLimits(allow_urls=True, url_timeout_s=0.5)
    with contextlib.suppress(CandidateError):  # unreachable here; whatever answers there is not loopback
        fetch_url(f"http://images.example:{server.port}/page.png", limits, resolver)
    assert resolver.calls == ["images.example"]
    assert server.hosts == []


def test_connects_to_the_checked_address_with_the_urls_host(server: _Server) -> None:
    resolver = _Resolver(_answers("127.0.0.1"))
    url = f"http://images.example:{server.port}/hop"  # redirects to /page.png on the same host
    assert fetch_url(url, TRUSTING, resolver) == BODY
    assert server.hosts == [f"images.example:{server.port}"] * 2
    assert resolver.calls == ["images.example"] * 2  # once per hop, each hop checked


def test_fetching_is_off_unless_asked_for(server: _Server) -> None:
    with pytest.raises(CandidateError, match="disabled"):
        fetch_url(f"http://127.0.0.1:{server.port}/page.png", ImageLimits())
    assert server.hosts == []


def test_the_time_limit_covers_the_whole_download(server: _Server) -> None:
    limits = ImageLimits(allow_urls=True, allow_private_urls=True, url_timeout_s=0.5)
    started = time.monotonic()
    with pytest.raises(CandidateError, match="longer than 0.5 s"):
        fetch_url(f"http://127.0.0.1:{server.port}/trickle", limits)
    assert time.monotonic() - started < 5  # the body would take 10 s


def test_a_body_over_the_byte_limit_is_too_large(server: _Server) -> None:
    limits = ImageLimits(allow_urls=True, allow_private_urls=True, url_timeout_s=2, max_bytes=10)
    with pytest.raises(ImageTooLarge, match="over the limit of 10 bytes"):
        fetch_url(f"http://127.0.0.1:{server.port}/page.png", limits)
