"""Folio's m0 as a stage of OpenSearch's own search: an ML Commons connector to `folio rerank-server`,
a remote model on it, and a search pipeline that fuses ``hybrid`` queries by reciprocal rank fusion
(neural-search's ``score-ranker-processor``) and reranks the hits with neural-search's ``rerank``
processor, which sends each hit's ``rerank_ref`` (``folio-page:<page_id>``) to the rerank server.

The connector speaks Cohere's rerank shape through ML Commons' built-in
``connector.pre_process.cohere.rerank`` / ``connector.post_process.cohere.rerank`` functions, which
Folio's ``POST /v1/rerank`` answers (a score for every document, by index).

Everything `install` makes is named after the pipeline (``<pipeline> reranker``), so a re-run finds
and reuses it and `uninstall` removes exactly it. The connector records what a re-run compares and
what uninstall restores: a salted digest of the install's settings (the API key included, never the
key itself); whether its endpoint is private, and whether Folio's installs turned on ML Commons'
private-address setting (the last install removed that needed it turns it off again); OpenSearch's
default trusted-endpoint list. That setting gets one entry for exactly the rerank endpoint, beside
the entries already there; uninstall takes it out and, when only the defaults remain, unsets it.

Body builders are pure; `MlReranker` is the thin I/O shell over an opensearch-py client. Failures
are `RerankerSetupError` (OpenSearch refused or failed a step) or `StoreUnavailable` (unreachable).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import secrets
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from docstore.fusion import RRF_K
from docstore.opensearch.queries import REF_FIELD
from docstore.protocol import StoreUnavailable

DEFAULT_PIPELINE = "folio-m0"
RRF_RANK_CONSTANT = RRF_K  # the k of docstore.fusion, so both fusions rank alike (weights aside)
MODEL_NAME = "jina-reranker-m0"  # the name the connector asks the rerank server for

TRUSTED_SETTING = "plugins.ml_commons.trusted_connector_endpoints_regex"
PRIVATE_IP_SETTING = "plugins.ml_commons.connector.private_ip_enabled"
SPEC_PARAM = "folio_spec"  # connector parameter: salt and digest of the install's settings
PRIVATE_PARAM = "folio_set_private_ip"  # connector parameter: "true" when Folio installs turned it on
NEEDS_PRIVATE_PARAM = "folio_private_endpoint"  # connector parameter: "true" when its endpoint is private
DEFAULT_TRUSTED_PARAM = "folio_default_trusted"  # connector parameter: OpenSearch's default list (JSON)

ML = "/_plugins/_ml"
DEPLOY_TIMEOUT_S = 60.0
ML_READY_TIMEOUT_S = 60.0  # ML Commons answers 503 until its config index is ready after a start


class RerankerSetupError(Exception):
    """OpenSearch refused or failed a step of installing or removing the reranker."""


@dataclass(frozen=True)
class RerankerSpec:
    reranker_url: str  # base URL of `folio rerank-server`, e.g. http://reranker:8081
    pipeline: str = DEFAULT_PIPELINE
    api_key: str | None = None
    allow_private_endpoint: bool = False
    fail_when_down: bool = False  # False: a failed rerank leaves the first-stage order

    @property
    def endpoint(self) -> str:
        return self.reranker_url.rstrip("/") + "/v1/rerank"

    @property
    def name(self) -> str:
        return reranker_name(self.pipeline)

    def digest(self, salt: str) -> str:
        """A salted, slow digest of everything a re-run must compare, the API key included."""
        fields = [self.endpoint, self.api_key or "", MODEL_NAME, str(self.allow_private_endpoint)]
        raw = hashlib.pbkdf2_hmac("sha256", json.dumps(fields).encode(), salt.encode(), 100_000)
        return f"{salt}:{raw.hex()}"


def reranker_name(pipeline: str) -> str:
    return f"{pipeline} reranker"


def validate_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(f"the reranker URL must be http(s)://host[:port][/path], not {url!r}")


def validate_pipeline(name: str) -> None:
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,99}", name):
        raise ValueError(f"pipeline name {name!r}: use lower-case letters, digits, - and _")


def endpoint_regex(endpoint: str) -> str:
    """The trusted-endpoint entry that admits exactly this URL (Java regex)."""
    return "^" + re.escape(endpoint) + "$"


def is_private_host(host: str) -> bool:
    """Whether ML Commons counts the host as a private address (loopback, site-local, link-local);
    a name is resolved here, which is only a guess at what the OpenSearch nodes resolve."""
    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except OSError:
        return False  # OpenSearch will say whether it can reach the name
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_unspecified:
            return True
    return False


def connector_body(
    spec: RerankerSpec,
    spec_digest: str,
    private: bool,
    set_private_ip: bool,
    trusted_default: list[str] | None,
) -> dict[str, Any]:
    """The connector; it records the install's digest, whether its endpoint is private, whether
    Folio installs turned on private addresses, and OpenSearch's default trusted-endpoint list:
    what a re-run compares and what uninstall restores."""
    headers = {"content-type": "application/json"}
    if spec.api_key:
        headers["Authorization"] = "Bearer ${credential.api_key}"
    request = (
        '{ "model": "${parameters.model}", "query": "${parameters.query}", '
        '"documents": ${parameters.documents}, "top_n": ${parameters.top_n}, "return_documents": false }'
    )
    return {
        "name": spec.name,
        "description": f"Folio m0 reranker for search pipeline {spec.pipeline} (made by install-reranker)",
        "version": "1",
        "protocol": "http",
        "parameters": {
            "model": MODEL_NAME,
            SPEC_PARAM: spec_digest,
            NEEDS_PRIVATE_PARAM: "true" if private else "false",
            PRIVATE_PARAM: "true" if set_private_ip else "false",
            DEFAULT_TRUSTED_PARAM: json.dumps(trusted_default),
        },
        # ML Commons wants a credential even for a server without a key.
        "credential": {"api_key": spec.api_key or "none"},
        "actions": [
            {
                "action_type": "predict",
                "method": "POST",
                "url": spec.endpoint,
                "headers": headers,
                "request_body": request,
                "pre_process_function": "connector.pre_process.cohere.rerank",
                "post_process_function": "connector.post_process.cohere.rerank",
            }
        ],
    }


def rrf_processor(major: int = 2) -> dict[str, Any]:
    """neural-search's RRF over the sub-queries of a `hybrid` query, both weighed alike, on an
    OpenSearch of release line `major`."""
    # 2.19 reads the constant under "parameters" (a top-level one is ignored); 3.x reads it at the
    # top and refuses it under "parameters" (which holds only weights there).
    constant = {"rank_constant": RRF_RANK_CONSTANT}
    combination = {"technique": "rrf", **(constant if major >= 3 else {"parameters": constant})}
    return {"score-ranker-processor": {"combination": combination}}


def pipeline_body(spec: RerankerSpec, model_id: str, major: int = 2) -> dict[str, Any]:
    """RRF for `hybrid` queries (other queries pass through), then m0 over each hit's reference."""
    rerank: dict[str, Any] = {
        "ml_opensearch": {"model_id": model_id},
        "context": {"document_fields": [REF_FIELD]},
        "tag": spec.name,
    }
    if not spec.fail_when_down:
        rerank["ignore_failure"] = True  # reranker down or failing: hits keep the first-stage order
    return {
        "description": f"Folio: hybrid queries fused by RRF, hits reranked by m0 ({spec.name})",
        "phase_results_processors": [rrf_processor(major)],
        "response_processors": [{"rerank": rerank}],
    }


def _by_name(name: str) -> dict[str, Any]:
    return {"query": {"term": {"name.keyword": name}}, "size": 100}


def _hits(result: dict[str, Any]) -> list[dict[str, Any]]:
    return list(result.get("hits", {}).get("hits", []))


class MlReranker:
    """Install and remove the reranker on the cluster behind `client` (opensearch-py)."""

    def __init__(self, client: Any, address: str = "OpenSearch") -> None:
        self.client = client
        self.address = address  # for messages, never with credentials

    # -- transport -----------------------------------------------------------------------
    def _request(
        self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None,
        missing_ok: bool = False, retry_unready: bool = False,
    ) -> dict[str, Any]:  # fmt: skip
        from opensearchpy import ConnectionError, NotFoundError, TransportError

        deadline = time.monotonic() + (ML_READY_TIMEOUT_S if retry_unready else 0.0)
        while True:
            try:
                result = self.client.transport.perform_request(method, path, params=params, body=body)
                return dict(result) if isinstance(result, dict) else {}
            except ConnectionError as exc:
                raise StoreUnavailable(
                    f"cannot reach OpenSearch at {self.address}: {exc.info or exc}"
                ) from exc
            except NotFoundError:
                if missing_ok:
                    return {}
                raise RerankerSetupError(f"{method} {path}: not found") from None
            except TransportError as exc:
                if exc.status_code in (429, 503) and time.monotonic() < deadline:
                    time.sleep(1.0)  # ML Commons still initialising
                    continue
                if "no handler found" in str(exc.info):
                    raise RerankerSetupError(
                        f"OpenSearch at {self.address} lacks the plugin for {path}: it needs opensearch-ml "
                        "and opensearch-neural-search (scripts/opensearch-local start --plugins ml)"
                    ) from exc
                raise RerankerSetupError(f"{method} {path} failed: {_reason(exc)}") from exc

    def _search(self, kind: str, name: str) -> list[dict[str, Any]]:
        """Connectors, model groups or models named `name` (none while ML Commons has no index yet)."""
        path = f"{ML}/{kind}/_search"
        return _hits(self._request("POST", path, _by_name(name), missing_ok=True, retry_unready=True))

    # -- cluster settings ----------------------------------------------------------------
    def _settings(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(persistent, defaults) as flat settings."""
        found = self._request(
            "GET", "/_cluster/settings", params={"include_defaults": "true", "flat_settings": "true"}
        )
        return dict(found.get("persistent", {})), dict(found.get("defaults", {}))

    def _trusted(self) -> tuple[list[str], list[str] | None]:
        """(the effective trusted-endpoint list, OpenSearch's default list when it is in force;
        OpenSearch shows the default only while the setting is unset)."""
        persistent, defaults = self._settings()
        if TRUSTED_SETTING in persistent:
            return _as_list(persistent[TRUSTED_SETTING]), None
        default = _as_list(defaults.get(TRUSTED_SETTING))
        return default, default

    def _put_persistent(self, settings: dict[str, Any]) -> None:
        self._request("PUT", "/_cluster/settings", {"persistent": settings})

    def _trust(self, endpoint: str) -> list[str] | None:
        """Add the endpoint's entry; returns OpenSearch's default list when it was in force."""
        entry = endpoint_regex(endpoint)
        current, default = self._trusted()
        if entry not in current:
            self._put_persistent({TRUSTED_SETTING: [*current, entry]})
        return default

    def _distrust(self, endpoint: str, default: list[str] | None) -> bool:
        """Take the endpoint's entry out; unset the setting when only `default` would remain."""
        entry = endpoint_regex(endpoint)
        current, in_force = self._trusted()
        if in_force is not None or entry not in current:
            return False
        rest = [r for r in current if r != entry]
        self._put_persistent({TRUSTED_SETTING: None if rest == default else rest})
        return True

    def _private_ip_enabled(self) -> bool:
        persistent, defaults = self._settings()
        return str(persistent.get(PRIVATE_IP_SETTING, defaults.get(PRIVATE_IP_SETTING, "false"))) == "true"

    # -- install -------------------------------------------------------------------------
    def install(self, spec: RerankerSpec) -> dict[str, Any]:
        validate_url(spec.reranker_url)
        validate_pipeline(spec.pipeline)
        host = urlsplit(spec.reranker_url).hostname or ""
        private = is_private_host(host)
        if private and not spec.allow_private_endpoint:
            raise RerankerSetupError(
                f"{host} is a private address, which ML Commons refuses by default: "
                "pass --allow-private-endpoint to let OpenSearch call it"
            )
        existing = self._search("connectors", spec.name)
        others = self._other_installs(spec.name)
        # Turning private addresses on is shared by all Folio installs: the last one removed that
        # needed them turns them off again.
        set_private = any(_set_private(c) for c in [*(e["_source"] for e in existing), *others])
        if private and not self._private_ip_enabled():
            self._put_persistent({PRIVATE_IP_SETTING: True})
            set_private = True
        default = self._trust(spec.endpoint)
        if default is None:  # known only while in force: carried by the connectors of installs
            default = next(
                (d for c in [*(e["_source"] for e in existing), *others] if (d := _default(c))), None
            )

        connector_id = self._reuse_connector(spec, existing, (private, set_private), default)
        if connector_id is None:
            for old in existing:
                self._remove_models_of(old["_id"], spec.name)
                self._request("DELETE", f"{ML}/connectors/{old['_id']}", missing_ok=True)
            body = connector_body(spec, spec.digest(secrets.token_hex(8)), private, set_private, default)
            created = self._request("POST", f"{ML}/connectors/_create", body, retry_unready=True)
            connector_id = str(created["connector_id"])
        group_id = self._model_group(spec)
        model_id = self._deployed_model(spec, connector_id, group_id)
        major = int(str(self._request("GET", "/")["version"]["number"]).split(".")[0])
        self._request("PUT", f"/_search/pipeline/{spec.pipeline}", pipeline_body(spec, model_id, major))
        return {
            "pipeline": spec.pipeline,
            "connector_id": connector_id,
            "model_id": model_id,
            "model_group_id": group_id,
            "endpoint": spec.endpoint,
        }

    def _reuse_connector(
        self,
        spec: RerankerSpec,
        existing: list[dict[str, Any]],
        private: tuple[bool, bool],
        default: list[str] | None,
    ) -> str | None:
        """The id of the one existing connector made with these same settings, if any."""
        if len(existing) != 1:
            return None
        source = existing[0]["_source"]
        recorded = str(source.get("parameters", {}).get(SPEC_PARAM, ""))
        salt = recorded.partition(":")[0]
        same = bool(salt) and spec.digest(salt) == recorded
        if (
            not same
            or (_needs_private(source), _set_private(source)) != private
            or _default(source) != default
        ):
            return None
        return str(existing[0]["_id"])

    def _model_group(self, spec: RerankerSpec) -> str:
        found = self._search("model_groups", spec.name)
        if found:
            return str(found[0]["_id"])
        body = {"name": spec.name, "description": f"Folio m0 reranker for search pipeline {spec.pipeline}"}
        return str(
            self._request("POST", f"{ML}/model_groups/_register", body, retry_unready=True)["model_group_id"]
        )

    def _deployed_model(self, spec: RerankerSpec, connector_id: str, group_id: str) -> str:
        models = [
            m for m in self._search("models", spec.name) if m["_source"].get("connector_id") == connector_id
        ]
        if models:
            model_id = str(models[0]["_id"])
            if models[0]["_source"].get("model_state") != "DEPLOYED":
                self._request("POST", f"{ML}/models/{model_id}/_deploy", retry_unready=True)
        else:
            body = {
                "name": spec.name,
                "function_name": "remote",
                "model_group_id": group_id,
                "connector_id": connector_id,
                "description": f"Folio m0 reranker for search pipeline {spec.pipeline}",
            }
            registered = self._request(
                "POST", f"{ML}/models/_register", body, params={"deploy": "true"}, retry_unready=True
            )
            model_id = str(registered["model_id"])
        self._wait_deployed(model_id)
        return model_id

    def _wait_deployed(self, model_id: str) -> None:
        deadline = time.monotonic() + DEPLOY_TIMEOUT_S
        state = ""
        while time.monotonic() < deadline:
            state = str(self._request("GET", f"{ML}/models/{model_id}").get("model_state", ""))
            if state == "DEPLOYED":
                return
            if state == "DEPLOY_FAILED":
                break
            time.sleep(0.5)
        raise RerankerSetupError(f"the model {model_id} did not deploy (state {state or 'unknown'})")

    def pages_without_ref(self, index: str) -> int | None:
        """Pages of `index` without a page reference (None when there is no such index)."""
        body = {"query": {"bool": {"must_not": [{"exists": {"field": REF_FIELD}}]}}}
        found = self._request("POST", f"/{index}/_count", body, missing_ok=True)
        return int(found["count"]) if "count" in found else None

    # -- uninstall -----------------------------------------------------------------------
    def uninstall(self, pipeline: str = DEFAULT_PIPELINE) -> dict[str, Any]:
        validate_pipeline(pipeline)
        name = reranker_name(pipeline)
        removed: dict[str, Any] = {
            "pipeline": False,
            "model_ids": [],
            "model_group_ids": [],
            "connector_ids": [],
        }
        current = self._request("GET", f"/_search/pipeline/{pipeline}", missing_ok=True)
        if pipeline in current and _is_ours(current[pipeline], name):
            self._request("DELETE", f"/_search/pipeline/{pipeline}")
            removed["pipeline"] = True
        connectors = self._search("connectors", name)
        for connector in connectors:
            removed["model_ids"] += self._remove_models_of(connector["_id"], name)
        for group in self._search("model_groups", name):
            self._request("DELETE", f"{ML}/model_groups/{group['_id']}", missing_ok=True)
            removed["model_group_ids"].append(group["_id"])
        others = self._other_installs(name)
        settings: list[str] = []
        for connector in connectors:
            self._request("DELETE", f"{ML}/connectors/{connector['_id']}", missing_ok=True)
            removed["connector_ids"].append(connector["_id"])
            source = connector["_source"]
            for url in _urls(source):
                if not any(url in _urls(o) for o in others) and self._distrust(url, _default(source)):
                    settings.append(TRUSTED_SETTING)
            if _set_private(source) and not any(_needs_private(o) for o in others):
                self._put_persistent({PRIVATE_IP_SETTING: None})
                settings.append(PRIVATE_IP_SETTING)
        removed["settings"] = sorted(set(settings))
        return {"pipeline": pipeline, "removed": removed}

    def _remove_models_of(self, connector_id: str, name: str) -> list[str]:
        ids: list[str] = []
        for model in self._search("models", name):
            if model["_source"].get("connector_id") != connector_id:
                continue
            model_id = str(model["_id"])
            self._request("POST", f"{ML}/models/{model_id}/_undeploy", missing_ok=True)
            self._request("DELETE", f"{ML}/models/{model_id}", missing_ok=True)
            ids.append(model_id)
        return ids

    def _other_installs(self, name: str) -> list[dict[str, Any]]:
        """The connectors other installs (other pipelines) made: they may share settings."""
        body = {"query": {"match_all": {}}, "size": 1000}
        found = self._request("POST", f"{ML}/connectors/_search", body, missing_ok=True)
        return [
            h["_source"]
            for h in _hits(found)
            if h["_source"].get("name") != name and SPEC_PARAM in h["_source"].get("parameters", {})
        ]


def _urls(connector: dict[str, Any]) -> list[str]:
    return [str(a["url"]) for a in connector.get("actions", []) if a.get("url")]


def _default(connector: dict[str, Any]) -> list[str] | None:
    recorded = connector.get("parameters", {}).get(DEFAULT_TRUSTED_PARAM)
    value = json.loads(recorded) if recorded else None
    return [str(v) for v in value] if isinstance(value, list) else None


def _needs_private(connector: dict[str, Any]) -> bool:
    return connector.get("parameters", {}).get(NEEDS_PRIVATE_PARAM) == "true"


def _set_private(connector: dict[str, Any]) -> bool:
    return connector.get("parameters", {}).get(PRIVATE_PARAM) == "true"


def _is_ours(pipeline: dict[str, Any], name: str) -> bool:
    return any(p.get("rerank", {}).get("tag") == name for p in pipeline.get("response_processors", []))


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):  # flat settings may give a list as its JSON text
        try:
            parsed = json.loads(value)
        except ValueError:
            return [value]
        return [str(v) for v in parsed] if isinstance(parsed, list) else [value]
    return [str(v) for v in value]


def _reason(exc: Any) -> str:
    info = getattr(exc, "info", None)
    if isinstance(info, dict):
        error = info.get("error", info)
        if isinstance(error, dict):
            return f"{error.get('type', '')}: {error.get('reason', '')}".strip(": ")
        return str(error)
    return str(getattr(exc, "error", exc))
