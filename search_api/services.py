"""The API's services, built once per app from its settings: store, keys, the rerank engine, search,
upload jobs, originals and the request limits. Keys, job status, upload name claims, portal sessions and
uploaded originals live in the store's shared state (docstore.shared_state), so every server on the store
serves as one: replicas on an OpenSearch store, the processes on a SQLite file."""

from __future__ import annotations

from dataclasses import dataclass

from docstore.originals import Originals
from docstore.protocol import Store
from docstore.store import open_store
from reranker.serving.engine import EngineLimits, RerankEngine
from reranker.serving.metrics import EngineCollector
from reranker.types import Scorer
from search_api.embedding import QueryEmbedder
from search_api.indexing import UploadIndexer
from search_api.jobs import JobManager
from search_api.jobs_in_store import StoreJobs
from search_api.keys import KeyStore
from search_api.limits import ConcurrencyLimit
from search_api.metrics import Metrics
from search_api.search_service import SearchService
from search_api.sessions import Sessions
from search_api.settings import Settings
from search_api.upload_names import UploadNames


@dataclass
class Services:
    settings: Settings
    metrics: Metrics
    store: Store
    keys: KeyStore
    engine: RerankEngine | None  # None: no reranker configured
    search: SearchService
    query_embedder: QueryEmbedder
    jobs: JobManager
    originals: Originals
    sessions: Sessions
    search_limit: ConcurrencyLimit
    upload_limit: ConcurrencyLimit

    def close(self) -> None:
        self.jobs.close()
        if self.engine is not None:
            self.engine.close()
        self.keys.close()
        self.store.close()


def make_scorer(settings: Settings) -> Scorer | None:
    """The reranker `settings.reranker` names (None for `none`). Request images reach it already
    read and checked with the API's own limits (see `query_image`)."""
    from reranker.backends.factory import make_backend

    return make_backend(settings.reranker)


def engine_limits(settings: Settings) -> EngineLimits:
    return EngineLimits(
        max_queue=settings.max_concurrent_reranks,
        max_in_flight=settings.max_concurrent_reranks,
        deadline_s=settings.rerank_budget_ms / 1000,
    )


def build_services(settings: Settings, scorer: Scorer | None = None) -> Services:
    metrics = Metrics()
    store = open_store(settings.store)
    if scorer is None:
        scorer = make_scorer(settings)
    engine = RerankEngine(scorer, engine_limits(settings)) if scorer is not None else None
    metrics.registry.register(EngineCollector(lambda: engine))
    embedder = None if settings.embedder == "default" else settings.embedder
    query_embedder = QueryEmbedder(store, embedder)
    shared = store.shared_state(settings.keys_file)
    job_records = StoreJobs(shared, settings.replica_timeout_s)
    names = UploadNames(shared, job_records)
    indexer = UploadIndexer(
        store, settings.upload_dir, embedder, settings.index_workers, shared.originals, names
    )
    return Services(
        settings=settings,
        metrics=metrics,
        store=store,
        keys=KeyStore(shared.keys, settings.key_cache_s),
        engine=engine,
        search=SearchService(store, engine, query_embedder, settings, metrics),
        query_embedder=query_embedder,
        jobs=JobManager(indexer, 1, settings.max_pending_jobs, metrics, job_records),
        originals=shared.originals,
        sessions=Sessions(shared, settings.session_lifetime_s),
        search_limit=ConcurrencyLimit("search", settings.max_concurrent_searches, metrics),
        upload_limit=ConcurrencyLimit("upload", settings.max_concurrent_uploads, metrics),
    )
