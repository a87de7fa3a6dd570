"""After a commit, what was decided goes out; what comes back is recorded by the one writer.

:class:`Deliveries` runs on the ingest thread right after each commit: the new outbox rows go to the
MQTT dispatcher and the officers' live feed, the deliveries the pipeline planned to the webhook sender
and the Apprise notifier (their URLs from the process's one agency directory, as they are now). On
start it submits again what a previous run did not deliver (alerts do not expire). The senders'
threads hand every attempt and every completed delivery back to the ingest thread (``call_soon``),
which records it through the pipeline: a SQLite database has one writer.

:class:`SentMarks` takes the outbox ids the broker acknowledged (the dispatcher calls
:meth:`SentMarks.on_sent` on its thread) and writes them on the ingest thread; ids acknowledged while
a write waits join it (one transaction, not one per dispatcher step).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.engine import Engine

from service.adapters.channels import Attempt
from service.adapters.channels.webhook import Delivery, WebhookSender
from service.adapters.db import alerts_repo
from service.adapters.db.alerts_repo import DeliveryItem, OutboxItem
from service.adapters.db.transaction import connection, transaction
from service.dispatcher import Dispatcher
from service.domain.directory import Directory
from service.errors import ConfigError
from service.live import AlertFeed
from service.pipeline import Pipeline

log = logging.getLogger(__name__)

CallSoon = Callable[[Callable[[], None]], None]  # runs a task on the ingest thread, between batches


class SentMarks:
    """The dispatcher's acknowledged outbox rows, marked sent by the ingest thread (the one writer)."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime], call_soon: CallSoon) -> None:
        self.engine, self.clock, self.call_soon = engine, clock, call_soon
        self._lock = threading.Lock()
        self._ids: list[int] = []  # acknowledged by the broker, not yet marked sent in the outbox
        self._queued = False

    def on_sent(self, ids: list[int]) -> None:
        """From the dispatcher's thread: queue one write on the ingest thread, or join the one queued."""
        with self._lock:
            self._ids += ids
            if self._queued:
                return
            self._queued = True
        self.call_soon(self._write)

    def _write(self) -> None:
        with self._lock:
            ids, self._ids, self._queued = self._ids, [], False
        try:
            with transaction(self.engine) as conn:
                alerts_repo.mark_sent(conn, ids, self.clock())
        except Exception:  # kept for the next write; meanwhile a rescan may publish them again (consumers dedupe)
            with self._lock:
                self._ids[:0] = ids
            raise


class Deliveries:
    """The fan-out after a commit (MQTT dispatcher, live feed, webhooks, Apprise) and its records."""

    def __init__(self, pipeline: Pipeline, directory: Directory, dispatcher: Dispatcher, feed: AlertFeed,
                 reader: Engine, clock: Callable[[], datetime], call_soon: CallSoon,
                 webhook_secret: str = "", apprise_config: str | None = None) -> None:
        self.pipeline, self.directory, self.dispatcher, self.feed = pipeline, directory, dispatcher, feed
        self.reader, self.clock, self.call_soon = reader, clock, call_soon
        self.webhook_secret, self.apprise_config = webhook_secret, apprise_config
        self.webhooks: WebhookSender | None = None
        self.notifier: Any = None  # AppriseNotifier, when STAYAWAY_APPRISE_CONFIG is set
        self.notify_urls: dict[str, tuple[str, ...]] = {}

    def start(self) -> None:
        """Starts the senders the settings ask for (a webhook secret; an Apprise configuration)."""
        if self.webhook_secret:
            self.webhooks = WebhookSender(self._webhook_attempt, lambda _id: None, self.clock)
            self.webhooks.start()
        if self.apprise_config:
            self._start_apprise(self.apprise_config)

    def stop(self) -> None:
        for sender in (self.notifier, self.webhooks):
            if sender is not None:
                sender.stop()

    def after_commit(self, outbox: list[OutboxItem]) -> None:
        """On the ingest thread, after a commit: MQTT messages to the dispatcher and the live feed, the
        planned deliveries to their senders."""
        if outbox:
            self.dispatcher.notify(outbox)
            self.feed.publish(outbox)
        deliveries = self.pipeline.take_deliveries()
        if deliveries:
            self.submit(deliveries)

    def resubmit(self) -> None:
        """On start (on the ingest thread): what a previous run did not deliver goes out again."""
        if self.webhooks is None and self.notifier is None:
            return
        with connection(self.reader) as conn:
            pending = alerts_repo.undelivered_webhooks(conn)
        self.submit(pending)

    def submit(self, deliveries: Sequence[DeliveryItem]) -> None:
        notes = [d for d in deliveries if d.channel == "apprise"]
        if notes:
            self._submit_notifications(notes)
        if self.webhooks is None:
            return
        secret = self.webhook_secret.encode()
        for d in deliveries:
            if d.channel != "webhook":
                continue
            url = self.directory.webhooks.get(d.agency_id)
            if url is None:
                log.warning("agency %s no longer has a webhook; delivery %d waits", d.agency_id, d.id)
                continue
            try:
                self.webhooks.submit(Delivery(d.id, url, secret, d.payload, d.event_id, d.priority))
            except ValueError:
                log.error("agency %s has an unusable webhook URL; delivery %d waits", d.agency_id, d.id)

    def _submit_notifications(self, deliveries: Sequence[DeliveryItem]) -> None:
        """Apprise deliveries: the text people read (``human_text``: never the victim's position; the
        respondent's only for police), to the agency's URLs as configured now."""
        from service.adapters.channels.apprise_channel import (
            Notification,
            apprise_type,
            human_text,
        )

        if self.notifier is None:
            return
        for d in deliveries:
            urls = self.notify_urls.get(d.agency_id)
            if not urls:
                log.warning("agency %s no longer has Apprise URLs; delivery %d waits", d.agency_id, d.id)
                continue
            message = orjson.loads(d.payload)
            title, body = human_text(message, police=self.directory.kind(d.agency_id) == "police")
            self.notifier.submit(Notification(d.id, urls, title, body, d.event_id, d.priority, apprise_type(message)))

    def _start_apprise(self, path: str) -> None:
        from service.adapters.channels.apprise_channel import (  # loads Apprise
            AppriseNotifier,
            load_agency_urls,
        )

        try:
            self.notify_urls = load_agency_urls(path)
        except ValueError as exc:
            raise ConfigError(f"STAYAWAY_APPRISE_CONFIG: {exc}") from exc
        unknown = sorted(set(self.notify_urls) - self.directory.ids())
        if unknown:
            log.warning("Apprise URLs tagged with %d tags that are no agency (not used until such an agency is "
                        "imported): %s", len(unknown), ", ".join(unknown)[:500])
        self.directory.set_notify(self.notify_urls)
        self.notifier = AppriseNotifier(self._apprise_attempt, self._apprise_delivered, self.clock)
        self.notifier.start()
        log.info("Apprise: %d agencies with %d URLs", len(self.notify_urls),
                 sum(len(u) for u in self.notify_urls.values()))

    def _webhook_attempt(self, a: Attempt) -> None:
        """From a sender thread: the attempt is recorded by the ingest thread, the one writer."""
        self.call_soon(lambda: self.pipeline.record_webhook_attempt(
            a.delivery_id, a.attempt_no, a.at, a.status_code, a.error, a.duration_ms, a.ok))

    def _apprise_attempt(self, a: Attempt) -> None:
        """One URL of an Apprise delivery; the delivery is done only once all have accepted it."""
        self.call_soon(lambda: self.pipeline.record_webhook_attempt(
            a.delivery_id, a.attempt_no, a.at, a.status_code, a.error, a.duration_ms, False, a.target))

    def _apprise_delivered(self, delivery_id: int) -> None:
        """From a notifier thread: every URL of the delivery accepted it (recorded by the one writer)."""
        self.call_soon(lambda: self.pipeline.mark_delivered(delivery_id))
