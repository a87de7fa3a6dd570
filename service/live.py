"""The live feed of alert messages for the officers' web app (server-sent events).

After each commit the ingest thread hands the new outbox rows to :class:`AlertFeed` as it hands them
to the dispatcher; every open stream whose agency a message is addressed to gets it (the same bytes as
on that agency's MQTT topic, so the same need-to-know cut). A subscriber that falls more than
``MAX_QUEUED`` messages behind is dropped and told to reload: a slow browser never holds up ingest.
"""

from __future__ import annotations

import queue
import re
import threading
from collections.abc import Iterable

from service.adapters.db.alerts_repo import OutboxItem

MAX_QUEUED = 1000
_ALERT_TOPIC = re.compile(r"stayaway/v1/agencies/([A-Za-z0-9._-]{1,64})/alerts")
RESET = b""  # put on a subscriber's queue when it fell behind: the stream ends, the page reloads


class Subscription:
    def __init__(self, agency_id: str) -> None:
        self.agency_id = agency_id
        self.queue: queue.Queue[bytes] = queue.Queue(MAX_QUEUED + 1)


class AlertFeed:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subs: set[Subscription] = set()

    def subscribe(self, agency_id: str) -> Subscription:
        sub = Subscription(agency_id)
        with self._lock:
            self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subs.discard(sub)

    def publish(self, items: Iterable[OutboxItem]) -> None:
        """Called on the ingest thread after a commit; never blocks."""
        messages = [(m.group(1), item.payload) for item in items if (m := _ALERT_TOPIC.fullmatch(item.topic))]
        if not messages:
            return
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            for agency, payload in messages:
                if agency != sub.agency_id:
                    continue
                if sub.queue.qsize() >= MAX_QUEUED:
                    self.unsubscribe(sub)
                    sub.queue.put_nowait(RESET)
                    break
                sub.queue.put_nowait(payload)

    def subscribers(self) -> int:
        with self._lock:
            return len(self._subs)
