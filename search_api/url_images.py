"""Fetching image URLs for /v1/rerank: only when enabled, only http(s), never from loopback,
link-local, private or otherwise non-public addresses, with a byte cap and a time limit."""

from __future__ import annotations

import ipaddress
import socket
import time
from urllib.parse import urlsplit

import httpx
from fastapi import HTTPException


def _public_address(host: str, port: int) -> str:
    """Resolve `host` and return one address, refusing any answer that is not a public address
    (a name resolving to 127.0.0.1 or 10.x is refused as firmly as the literal)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise HTTPException(
            status_code=400, detail=f"image URL host {host!r} does not resolve: {exc}"
        ) from None
    addresses = {str(info[4][0]) for info in infos}
    for addr in addresses:
        ip = ipaddress.ip_address(addr.split("%")[0])
        if not ip.is_global or ip.is_multicast:
            raise HTTPException(status_code=400, detail=f"image URL host {host!r} is not a public address")
    return sorted(addresses)[0]


def fetch_image_url(url: str, max_bytes: int, timeout_s: float) -> bytes:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HTTPException(status_code=400, detail="image URLs must be http(s) URLs with a host")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = _public_address(parts.hostname, port)
    # Plain http connects to the address that was checked, not a second resolution that could
    # differ (DNS rebinding); https resolves again for its certificate check, so a rebinding
    # attacker would also need a valid certificate for the name.
    target = url
    if parts.scheme == "http":
        host = f"[{address}]" if ":" in address else address
        target = parts._replace(netloc=f"{host}:{port}").geturl()
    deadline = time.monotonic() + timeout_s
    try:
        with httpx.Client(timeout=timeout_s, follow_redirects=False) as client:
            with client.stream("GET", target, headers={"Host": parts.netloc}) as resp:
                if resp.status_code != 200:
                    raise HTTPException(status_code=400, detail=f"image URL answered HTTP {resp.status_code}")
                chunks: list[bytes] = []
                size = 0
                for chunk in resp.iter_bytes():
                    size += len(chunk)
                    if time.monotonic() > deadline:
                        raise HTTPException(status_code=400, detail="image URL took too long to download")
                    if size > max_bytes:
                        raise HTTPException(status_code=413, detail="image at URL is too large")
                    chunks.append(chunk)
                return b"".join(chunks)
    except httpx.HTTPError as exc:
        raise HTTPException(status_code=400, detail=f"image URL could not be fetched: {exc}") from None
