"""Sources in S3 (or any S3-compatible store): the objects under s3://bucket/prefix.

The endpoint is `--s3-endpoint`, else boto3's own settings (AWS_ENDPOINT_URL, a profile's
endpoint_url), else AWS; credentials come from boto3's usual chain (AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ~/.aws, instance roles). An object's identity is its s3:// URI
and its version its ETag and size, both from the listing: an unchanged object is skipped without
being downloaded. One that is indexed is downloaded to a temporary file (a text object only as far
as MAX_TEXT_CHARS reaches), which the workers open like any file and which is removed once its pages
are written. boto3 is imported only when an s3:// path is given (the `s3` extra)."""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from indexer.sources import (
    TEXT_BYTES_READ,
    FetchFailed,
    Kind,
    LocalCopy,
    Source,
    SourceUnavailable,
    Stamp,
    kind_of,
)

SCHEME = "s3://"
PAGE_SIZE = 1000  # keys per listing request (S3's own maximum)


def is_s3_uri(path: str | Path) -> bool:
    return isinstance(path, str) and path.startswith(SCHEME)


@dataclass(frozen=True)
class S3Object:
    """One listed object. Plain values only (the client is looked up per process by endpoint), so
    an object can be pickled to another process and fetched there."""

    bucket: str
    key: str
    etag: str  # as listed, quotes included
    size: int
    mtime_ns: int
    kind: Kind
    endpoint: str | None = None

    @property
    def uri(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.key}"

    def stamp(self) -> Stamp:
        return Stamp(self.size, self.mtime_ns)

    def fingerprint(self) -> str:
        etag = self.etag.strip('"')
        return f"s3-etag:{etag}:{self.size}"

    def fetch(self, max_bytes: int) -> LocalCopy:
        """Stream the object into a file of a new temporary folder, named as the key's last part (a
        document without a title is named after it). Only the listed version is read (If-Match):
        one replaced meanwhile fails here and is indexed by the next run."""
        want = self.size
        extra = {"IfMatch": self.etag} if self.etag else {}
        if self.kind == "text" and self.size > TEXT_BYTES_READ:
            want = TEXT_BYTES_READ
            extra["Range"] = f"bytes=0-{TEXT_BYTES_READ - 1}"
        elif self.size > max_bytes:
            raise FetchFailed(
                f"too large to download ({_mb(self.size)} MB; the limit is {_mb(max_bytes)} MB, --s3-max-mb)"
            )
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            folder = Path(tempfile.mkdtemp(prefix="folio-s3-"))
        except OSError as exc:
            raise FetchFailed(f"no temporary folder to download into ({exc})") from None
        copy = LocalCopy(folder / _local_name(self.key), folder)
        try:
            resp = _client(self.endpoint).get_object(Bucket=self.bucket, Key=self.key, **extra)
            written = 0
            with open(copy.path, "wb") as f:
                for chunk in resp["Body"].iter_chunks(1 << 20):
                    written += len(chunk)
                    if written > want:  # the server sends more than it listed: never fill the disk
                        raise FetchFailed(f"download failed (more than the {self.size} bytes listed)")
                    f.write(chunk)
        except ClientError as exc:
            copy.release()
            code, message = _error(exc)
            if code in ("PreconditionFailed", "412"):
                raise FetchFailed("changed while being read (the next run indexes it)") from None
            if code in ("NoSuchKey", "404"):
                raise FetchFailed("deleted while being read") from None
            raise FetchFailed(f"download failed ({code}: {message})") from None
        except (BotoCoreError, OSError) as exc:
            copy.release()
            raise FetchFailed(f"download failed ({exc})") from None
        except BaseException:
            copy.release()
            raise
        return copy


@dataclass(frozen=True)
class S3Root:
    """An s3://bucket/prefix given to a run. The prefix is a key prefix, as in S3 itself: docs
    holds docs/a.pdf and docs2/b.pdf; docs/ only the first."""

    bucket: str
    prefix: str
    endpoint: str | None = None
    lists: bool = True

    @property
    def uri(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.prefix}"

    @classmethod
    def open(cls, uri: str, endpoint: str | None = None) -> S3Root:
        """Parse `uri` and list one key under it, so that a missing bucket, refused credentials or
        an unreachable endpoint stop the run before anything is written."""
        bucket, _, prefix = uri[len(SCHEME) :].partition("/")
        if not bucket:
            raise SourceUnavailable(f"{uri}: no bucket (s3://bucket/prefix)")
        root = cls(bucket, prefix, endpoint)
        root._list(max_keys=1)
        return root

    def sources(self) -> Iterator[Source]:
        token: str | None = None
        while True:
            page = self._list(PAGE_SIZE, token)
            for obj in page.get("Contents", []):
                key = str(obj["Key"])
                kind = kind_of(key.rsplit("/", 1)[-1]) if not key.endswith("/") else None
                if kind is None or _hidden(key[len(self.prefix) :]):
                    continue
                yield S3Object(
                    bucket=self.bucket, key=key, etag=str(obj.get("ETag", "")), size=int(obj["Size"]),
                    mtime_ns=_ns(obj["LastModified"]), kind=kind, endpoint=self.endpoint,
                )  # fmt: skip
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return

    def gone(self, uri: str, seen: set[str]) -> bool:
        # The listing is complete (a failed one stops the run): what it did not name is gone.
        return uri.startswith(self.uri) and uri not in seen

    def _list(self, max_keys: int, token: str | None = None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.prefix, "MaxKeys": max_keys}
        if token:
            kwargs["ContinuationToken"] = token
        client = _client(self.endpoint)
        try:
            return dict(client.list_objects_v2(**kwargs))
        except Exception as exc:
            raise _unavailable(exc, self, client.meta.endpoint_url) from None


def _unavailable(exc: Exception, root: S3Root, endpoint: str) -> Exception:
    """One clear sentence for what stops a listing; anything else is left as it is."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
    )

    where = f"s3://{root.bucket}"
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return SourceUnavailable(
            f"no S3 credentials for {where}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE"
        )
    if isinstance(exc, ConnectionError):
        return SourceUnavailable(f"S3 endpoint unreachable: {endpoint} ({exc})")
    if isinstance(exc, ClientError):
        code, message = _error(exc)
        if code in ("NoSuchBucket", "404"):
            return SourceUnavailable(f"no such bucket: {where} (at {endpoint})")
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403", "ExpiredToken"):
            return SourceUnavailable(
                f"S3 refused the credentials for {where} at {endpoint}: {code}: {message}"
            )
        return SourceUnavailable(f"S3 error listing {root.uri} at {endpoint}: {code}: {message}")
    if isinstance(exc, BotoCoreError):
        return SourceUnavailable(f"S3: {exc}")
    return exc


def _error(exc: Any) -> tuple[str, str]:
    err = exc.response.get("Error", {})
    code = str(err.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
    return code, str(err.get("Message") or "")


@functools.cache
def _client(endpoint: str | None) -> Any:
    """One client per endpoint and process (boto3 clients are thread-safe). Few retries and short
    connect timeouts: an unreachable endpoint should fail the run in seconds, not minutes."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise SourceUnavailable("s3:// paths need boto3: pip install 'folio-search[s3]'") from None
    from botocore.exceptions import BotoCoreError

    # S3-compatible servers (S3Proxy, MinIO, SeaweedFS, ...) expect bucket names in the path, not
    # in the host name as AWS does.
    custom = endpoint or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    config = Config(
        connect_timeout=5, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"},
        s3={"addressing_style": "path"} if custom else None,
    )  # fmt: skip
    try:
        return boto3.session.Session().client("s3", endpoint_url=endpoint or None, config=config)
    except BotoCoreError as exc:  # a profile that does not exist, a bad endpoint URL
        raise SourceUnavailable(f"S3: {exc}") from None
    except ValueError as exc:
        raise SourceUnavailable(f"S3: {exc}") from None


def _hidden(relative_key: str) -> bool:
    return any(part.startswith(".") for part in relative_key.split("/"))


def _local_name(key: str) -> str:
    """The key's last part, safe as a file name (its suffix kept: the kind depends on it)."""
    name = key.rsplit("/", 1)[-1]
    safe = "".join(c if c.isalnum() or c in "._- " else "_" for c in name).strip(". ") or "object"
    if len(safe) > 120:
        suffix = Path(safe).suffix[:20]
        safe = safe[: 120 - len(suffix)] + suffix
    return safe


def _ns(when: datetime) -> int:
    return int(when.timestamp()) * 1_000_000_000 + when.microsecond * 1000


def _mb(n: int) -> str:
    return f"{n / (1 << 20):,.0f}"
