"""One pass of a bulk write: the actions sent once, in order, and sorted into done, to send again
(what the cluster cannot take yet) and refused for good. `OpenSearchStore.bulk` repeats passes with
backoff until nothing is left to send again."""

from __future__ import annotations

from functools import partial
from typing import Any

# Bulk item (or request) statuses worth sending again: a full queue (429), and a shard with no live
# primary or a cluster without a manager for a moment (503) while a lost node's shards move.
RETRY_STATUS = frozenset({429, 502, 503, 504})


def bulk_pass(
    client: Any, actions: list[dict[str, Any]], refresh: bool | str, threads: int = 1
) -> tuple[list[dict[str, Any]], str]:
    """Send the actions once, `threads` requests at a time (results still come in the actions'
    order); returns those to send again and why. A request that fails as a whole has every action
    from its first one on sent again: with threads, some of those may have landed already, which
    is harmless (each action names its document by id)."""
    from opensearchpy import TransportError, helpers

    again: list[dict[str, Any]] = []
    refused: list[dict[str, Any]] = []
    reason, done = "", 0
    send = helpers.streaming_bulk if threads == 1 else partial(helpers.parallel_bulk, thread_count=threads)
    results = send(
        client,
        actions,
        max_chunk_bytes=20 * 1024 * 1024,  # page images make big actions; stay well under limits
        raise_on_error=False,
        refresh=refresh,
        # How long a shard without a live primary is waited for: under the client's read timeout,
        # so the item comes back 503 (sent again below) rather than the request timing out.
        # (request_timeout given, the client sends `timeout` to the server instead of using it.)
        timeout="20s",
        request_timeout=30,
    )
    try:
        for ok, item in results:  # in the actions' order
            action = actions[done]
            done += 1
            result = next(iter(item.values()))
            status = int(result.get("status", 500))
            if ok or status == 404:  # 404: deleting images a page never had
                continue
            if status in RETRY_STATUS:
                again.append(action)
                error = result.get("error") or {}
                reason = f"{error.get('type', status)}: {error.get('reason', '')}"
            else:
                refused.append(item)
    except TransportError as exc:  # the request as a whole (after the client tried each host)
        if not isinstance(exc.status_code, int) or exc.status_code not in RETRY_STATUS:
            raise
        again.extend(actions[done:])
        reason = str(exc.error)
    if refused:
        raise helpers.BulkIndexError(f"{len(refused)} document(s) failed to index.", refused)
    return again, reason
