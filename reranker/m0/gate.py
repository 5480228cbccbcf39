"""Turn-taking between input preparation and the model on a CPU device. There the model's own
threads use every core, and a preparation thread running beside them makes each of the model's
parallel steps wait for a descheduled thread; preparation on all cores, then the model on all
cores, finishes sooner. Preparations share the gate with each other; a model batch takes it alone
and goes first once it asks (preparations already running finish; new ones wait)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class TurnGate:
    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._cond = threading.Condition()
        self._preparing = 0
        self._model_waiting = 0
        self._model_running = False

    @contextmanager
    def prepare(self) -> Iterator[None]:
        if not self.enabled:
            yield
            return
        with self._cond:
            while self._model_running or self._model_waiting:
                self._cond.wait()
            self._preparing += 1
        try:
            yield
        finally:
            with self._cond:
                self._preparing -= 1
                self._cond.notify_all()

    @contextmanager
    def model(self) -> Iterator[None]:
        if not self.enabled:
            yield
            return
        with self._cond:
            self._model_waiting += 1
            while self._model_running or self._preparing:
                self._cond.wait()
            self._model_waiting -= 1
            self._model_running = True
        try:
            yield
        finally:
            with self._cond:
                self._model_running = False
                self._cond.notify_all()
