"""The silence watchdog: every second, the ingest thread looks for what is due (silences, deadlines).

A thread of its own only keeps time: each tick runs on the ingest thread, the one writer and owner of
the monitoring state, and what it publishes goes out after its commit like every alert message.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime

from service.adapters.db.alerts_repo import OutboxItem
from service.adapters.mqtt import IngestClient
from service.pipeline import Pipeline

WATCHDOG_TICK_S = 1.0  # how often the silence watchdog looks (signal_lost within ~1 s of its deadline)


class Watchdog:
    def __init__(self, pipeline: Pipeline, clients: Sequence[IngestClient], clock: Callable[[], datetime],
                 call_soon: Callable[[Callable[[], None]], None], after_commit: Callable[[list[OutboxItem]], None],
                 tick_s: float = WATCHDOG_TICK_S) -> None:
        self.pipeline, self.clients, self.clock = pipeline, clients, clock
        self.call_soon, self.after_commit, self.tick_s = call_soon, after_commit, tick_s
        self._listening_since: datetime | None = None
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stayaway-watchdog", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()

    def _run(self) -> None:
        while not self._stopped.wait(self.tick_s):
            self.call_soon(self.tick)

    def tick(self) -> None:
        """On the ingest thread. Silence is only counted while both sessions are subscribed, and from
        when they last were at the earliest: our own outage is not a device's silence (the broker
        delivers what the devices sent meanwhile first)."""
        if not all(c.subscribed.is_set() for c in self.clients):
            self._listening_since = None
            return
        if self._listening_since is None:
            self._listening_since = self.clock()
        self.after_commit(self.pipeline.tick(self._listening_since))
