"""Fetching an image URL (off unless asked for). The host is resolved once per hop, every address it
resolves to is checked (private, loopback, link-local and multicast addresses are refused unless
`allow_private_urls`), and the connection goes to the checked address itself, with the original
Host header and TLS server name: a DNS answer that changes between the check and the connection
(DNS rebinding) cannot steer the request to an address that was not checked."""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from reranker.errors import CandidateError, ImageTooLarge
from reranker.image_limits import ImageLimits

# (host, port) -> getaddrinfo-shaped answers; tests pass their own instead of asking real DNS.
Resolver = Callable[[str, int], list[Any]]


def system_resolver(host: str, port: int) -> list[Any]:
    return socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)


def checked_address(host: str, port: int, limits: ImageLimits, resolve: Resolver) -> str:
    """The address to connect to: the host's first resolved address, after checking all of them."""
    try:
        literal = ipaddress.ip_address(host)
        addresses = [literal]
    except ValueError:
        try:
            addresses = [ipaddress.ip_address(info[4][0]) for info in resolve(host, port)]
        except (OSError, UnicodeError, ValueError) as exc:
            raise CandidateError(f"image URL unreachable: cannot resolve {host} ({exc})") from None
    if not addresses:
        raise CandidateError(f"image URL unreachable: {host} resolves to no address")
    if not limits.allow_private_urls:
        for address in addresses:
            if not address.is_global or address.is_multicast:
                raise CandidateError(
                    f"image URL blocked: {host} resolves to a non-public address ({address})"
                )
    return str(addresses[0])


def _pinned(url: str, limits: ImageLimits, resolve: Resolver) -> tuple[str, dict[str, str], dict[str, Any]]:
    """(URL naming the checked address, headers, request extensions) for one hop."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CandidateError(f"unsupported image URL {url!r} (only http and https)")
    host = parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = checked_address(host, port, limits, resolve)
    shown = f"[{address}]" if ":" in address else address
    pinned = urlunsplit((parts.scheme, f"{shown}:{port}", parts.path or "/", parts.query, ""))
    host_header = parts.netloc.rpartition("@")[2]  # as the URL names it, port included when given
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    return pinned, {"Host": host_header}, extensions


def fetch_url(url: str, limits: ImageLimits, resolve: Resolver = system_resolver) -> bytes:
    """GET an image URL with a byte cap, checking the host again on every redirect. `url_timeout_s`
    bounds the whole fetch, redirects and a slowly trickling body included."""
    if not limits.allow_urls:
        raise CandidateError("image URLs are disabled here (URL fetching is off); send the image itself")
    import httpx

    deadline = time.monotonic() + limits.url_timeout_s
    with httpx.Client(timeout=limits.url_timeout_s, follow_redirects=False, trust_env=False) as client:
        for _ in range(limits.max_redirects + 1):
            if time.monotonic() > deadline:  # redirect hops share the one time limit
                raise CandidateError(f"image URL took longer than {limits.url_timeout_s:g} s: {url}")
            pinned, headers, extensions = _pinned(url, limits, resolve)
            try:
                with client.stream("GET", pinned, headers=headers, extensions=extensions) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = urljoin(url, response.headers["location"])  # relative to the named host
                        continue
                    if response.status_code != 200:
                        raise CandidateError(f"image URL returned HTTP {response.status_code}: {url}")
                    chunks, total = [], 0
                    for chunk in response.iter_bytes():
                        total += len(chunk)
                        if total > limits.max_bytes:
                            raise ImageTooLarge(
                                f"image at {url} is over the limit of {limits.max_bytes} bytes"
                            )
                        if time.monotonic() > deadline:
                            raise CandidateError(
                                f"image URL took longer than {limits.url_timeout_s:g} s to download: {url}"
                            )
                        chunks.append(chunk)
                    return b"".join(chunks)
            except httpx.HTTPError as exc:
                raise CandidateError(f"image URL unreachable: {url} ({type(exc).__name__}: {exc})") from None
    raise CandidateError(f"image URL redirected more than {limits.max_redirects} times: {url}")
