"""The pipeline's post-processing stage: one long-lived thread that moves logits off the device and
turns them into scores, beside the model running the next batch. Started with the pipeline and
stopped by its `close()`; every item carries the call it belongs to, so calls may overlap and a
failure while reading one call's scores fails that call only."""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field

import torch

from reranker.errors import BackendFailed, CandidateError
from reranker.m0.model import logits_to_scores

ModelOutput = tuple[list[int], torch.Tensor]  # pair positions in the call, their logits


@dataclass
class CallScores:
    """One call's scores as the worker fills them in, by pair position."""

    values: list[float | CandidateError]
    error: BaseException | None = None  # the first failure reading this call's logits
    finished: threading.Event = field(default_factory=threading.Event)


class PostWorker:
    def __init__(self, depth: int = 4) -> None:
        # Bounded: the model stage waits when post-processing falls behind, rather than holding
        # many batches of logits on the device.
        self._queue: queue.Queue[tuple[CallScores, ModelOutput | None] | None] = queue.Queue(maxsize=depth)
        self._thread = threading.Thread(target=self._loop, name="rerank-post", daemon=True)
        self._thread.start()

    def put(self, call: CallScores, out: ModelOutput) -> None:
        """Queue one model output of `call` (blocks while the queue is full)."""
        self._put((call, out))

    def finish(self, call: CallScores) -> None:
        """Wait until every output queued for `call` is read; raise what reading them raised."""
        self._put((call, None))  # FIFO, one thread: this marker comes after the call's outputs
        while not call.finished.wait(0.5):
            self._check_alive()
        if call.error is not None:
            raise BackendFailed(f"reranker failed while reading scores: {call.error!r}") from call.error

    def close(self) -> None:
        while self._thread.is_alive():
            try:
                self._queue.put(None, timeout=0.5)
                break
            except queue.Full:
                continue
        self._thread.join()

    def _put(self, item: tuple[CallScores, ModelOutput | None]) -> None:
        while True:
            self._check_alive()
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def _check_alive(self) -> None:
        if not self._thread.is_alive():
            raise BackendFailed("the reranker is closed (its post-processing worker has stopped)")

    def _loop(self) -> None:
        while (item := self._queue.get()) is not None:
            call, out = item
            if out is None:
                call.finished.set()
                continue
            if call.error is not None:
                continue  # this call has failed already: drop the rest of its outputs
            try:
                indices, logits = out
                for i, s in zip(indices, logits_to_scores(logits), strict=True):
                    call.values[i] = s
            except BaseException as exc:  # fails this call only; the worker goes on
                call.error = exc
