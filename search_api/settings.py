"""Server settings: environment variables with the FOLIO_ prefix, overridable by `folio serve` flags."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FOLIO_", extra="ignore")

    # `store` also reads FOLIO_STORE, the variable the CLI and indexer use.
    store: str = "sqlite:///.folio/folio.db"
    # none | local:/path/to/model | jina[:model] | remote:http://host:port[,http://host2:port,...]
    reranker: str = "none"
    # Query embedder when the store has none recorded (the store's own record always wins).
    embedder: str = "default"
    anonymous: bool = False  # allow requests without a key (sees public pages only)
    # OpenID Connect: bearer JWTs from this issuer are accepted beside API keys (search_api/oidc.py).
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_audience: str | None = None  # the `aud` a token must carry; default: the client id
    oidc_groups_claim: str = "groups"
    oidc_admin_group: str | None = None  # members of this group are admins
    oidc_leeway_s: float = Field(default=30.0, ge=0)  # clock skew allowed on `exp` and `nbf`
    oidc_provider_name: str = "your identity provider"  # the portal's "Sign in with ..." button
    # What the portal's sign-in asks for; the access token it gets must be one for Folio's audience.
    oidc_scope: str = "openid profile email"
    # Portal sessions (search_api/sessions.py): a signed-in browser's cookie lasts at most this long.
    session_lifetime_s: float = Field(default=8 * 3600.0, gt=0)
    # What the reranker scores for a PDF page: its image, its text, or text for text-only pages.
    candidate_modality: Literal["image", "text", "auto"] = "image"
    rerank_budget_ms: int = Field(default=10_000, ge=1)  # past this, first-stage order is returned
    max_upload_mb: int = Field(default=100, ge=1)
    max_query_image_mb: int = Field(default=20, ge=1)
    max_query_image_pixels: int = Field(default=40_000_000, ge=1)
    allow_image_urls: bool = False  # request images may be http(s) URLs, fetched (never from private hosts)
    image_url_timeout_s: float = Field(default=5.0, gt=0)
    # Default: keys.db beside a SQLite store; an OpenSearch store keeps them in its own keys index.
    keys_file: Path | None = None
    key_cache_s: float = Field(default=5.0, ge=0)  # store-kept keys: how long a verified key is trusted
    # Where uploads are indexed from (on an OpenSearch store only while indexing: the originals
    # are then kept in the store). Give every replica the same path: it names uploaded documents.
    upload_dir: Path = Path(".folio/uploads")
    # Servers on one store: a job whose replica has not reported for this long is failed.
    replica_timeout_s: float = Field(default=15.0, ge=1)
    cors_origins: list[str] = Field(default_factory=list)  # CORS off unless origins are listed
    # Load shedding: searches beyond this many in flight get 503 immediately rather than queueing.
    max_concurrent_searches: int = Field(default=32, ge=1)
    max_concurrent_reranks: int = Field(default=8, ge=1)
    max_concurrent_uploads: int = Field(default=4, ge=1)
    max_pending_jobs: int = Field(default=16, ge=1)
    index_workers: int = Field(default=1, ge=1)
