"""The composition root of a ``stayaway serve`` process: builds, starts and stops everything.

Order of start: database (migrated), monitoring state, embedded broker when no
MQTT URL is set, alert publisher and dispatcher, deliveries (webhooks, Apprise),
ingest loop, ingest clients, config watcher, watchdog, web server. Nothing
connects before :meth:`Runtime.start`. The live logic lives in its own modules:
``deliveries`` (the fan-out after a commit, the sent-marks), ``alert_actions``
(an officer's step), ``watchdog`` (the 1 s tick).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from geofence import FrameCache
from service.adapters.broker import EmbeddedBroker
from service.adapters.db.engine import make_engine, migrate
from service.adapters.db.transaction import transaction
from service.adapters.mqtt import (
    PANIC_TOPICS,
    REPORT_TOPICS,
    IngestClient,
    MqttUrl,
    Publisher,
    parse_mqtt_url,
)
from service.alert_actions import AlertActions
from service.config_watch import ConfigWatcher
from service.deliveries import Deliveries, SentMarks
from service.dispatcher import Dispatcher
from service.domain.directory import Directory
from service.domain.monitoring import Monitor
from service.ingest import IngestLoop
from service.live import AlertFeed
from service.metrics import Metrics
from service.pipeline import Pipeline
from service.settings import Settings
from service.state import rebuild
from service.watchdog import Watchdog
from service.web.serializers import alert_fields
from service.web_server import WebServer
from service.wire import Inbound

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_alert_id() -> str:
    return str(uuid.uuid4())


class Runtime:
    def __init__(self, settings: Settings, clock: Callable[[], datetime] = utc_now,
                 new_id: Callable[[], str] = new_alert_id) -> None:
        self.settings, self.clock, self.new_id = settings, clock, new_id
        self.metrics = Metrics()
        self.broker: EmbeddedBroker | None = None
        self._stoppers: list[Callable[[], None]] = []
        self.mqtt_url = settings.mqtt_url  # holds the broker password: print ``mqtt`` (masked) instead
        self.mqtt: MqttUrl | None = None  # the broker as connected to (its str() masks the password)
        self.http_url = ""
        self.feed = AlertFeed()  # alert messages for the web app's live board (server-sent events)

    def start(self) -> None:
        s = self.settings
        self._open_state(s)
        url, protocol = self._connect_broker(s)
        self.publisher = Publisher(url, f"{s.mqtt_client_id}-alerts-{uuid.uuid4().hex[:8]}", protocol)
        self.sent_marks = SentMarks(self.engine, self.clock, self._on_ingest)
        self.dispatcher = Dispatcher(self.reader, self.publisher, self.clock, self.metrics, self.sent_marks.on_sent,
                                     s.outbox_retry_s)
        self.pipeline = Pipeline(self.engine, self.monitor, self.clock, s.max_payload_bytes)
        self.deliveries = Deliveries(self.pipeline, self.monitor.directory, self.dispatcher, self.feed, self.reader,
                                     self.clock, self._on_ingest, s.webhook_secret, s.apprise_config)
        self._stoppers.append(self.deliveries.stop)
        self.deliveries.start()
        self.webhooks, self.notifier = self.deliveries.webhooks, self.deliveries.notifier
        self.loop = IngestLoop(self.pipeline, self._ack, self.deliveries.after_commit, self.reload_all, self.metrics,
                               s.max_batch, batch_budget_s=s.batch_budget_ms / 1000)
        self.actions = AlertActions(self.pipeline, self.monitor.directory, self.loop.call_soon,
                                    self.deliveries.after_commit)
        # Two sessions: panics never wait behind a backlog of reports in the broker's queue.
        self.clients = [
            IngestClient(url, s.mqtt_client_id, protocol, s.mqtt_receive_maximum, s.mqtt_session_expiry_s,
                         self.loop.submit, REPORT_TOPICS, lane=0),
            IngestClient(url, f"{s.mqtt_client_id}-panic", protocol, s.mqtt_receive_maximum,
                         s.mqtt_session_expiry_s, self.loop.submit, PANIC_TOPICS, lane=1),
        ]
        self.watcher = ConfigWatcher(self.reader, self.loop.call_soon, self.reload_some, s.config_poll_s)
        for part in (self.publisher, self.dispatcher, self.loop, *self.clients, self.watcher):
            part.start()
            self._stoppers.append(part.stop)
        self.loop.call_soon(self.deliveries.resubmit)
        self.watchdog = Watchdog(self.pipeline, self.clients, self.clock, self.loop.call_soon,
                                 self.deliveries.after_commit)
        self.watchdog.start()
        self._stoppers.append(self.watchdog.stop)
        self._start_web(s)
        log.info("stayaway serving: mqtt %s, database %s, web %s", url,
                 self.engine.url.render_as_string(hide_password=True), self.http_url)  # passwords masked

    def _open_state(self, s: Settings) -> None:
        """The database (migrated; a writer and a reader engine) and the monitoring state built from it."""
        s.data_path().mkdir(parents=True, exist_ok=True)
        db_url = s.effective_database_url()
        self.engine = make_engine(db_url, s.sqlite_synchronous)
        migrate(self.engine)
        self.reader = make_engine(db_url, s.sqlite_synchronous, writer=False)
        self.monitor = Monitor(FrameCache(), Directory([]), self.new_id)
        self.monitor.escalation_policies = s.escalation_policies()
        self.monitor.health_close_after_s = s.health_close_after_s
        self.monitor.reminder_days = s.reminder_days()
        self.monitor.grace = timedelta(hours=s.end_grace_h)
        self.monitor.legal_profile = s.legal_profile
        with transaction(self.engine) as conn:
            from service.importing import flag_terms

            flag_terms(conn, s.legal_profile, self.clock())  # stored orders beyond their court's term: told, kept
            rebuild(self.monitor, conn, now=self.clock())

    def _connect_broker(self, s: Settings) -> tuple[MqttUrl, str]:
        """The broker to connect to (an embedded one, started here, when no MQTT URL is set)."""
        if self.mqtt_url is not None:
            self.mqtt = s.mqtt()  # mqtts:// with the TLS files of the settings
            return self.mqtt, s.mqtt_protocol
        self.broker = EmbeddedBroker()
        self.broker.start()
        self._stoppers.append(self.broker.stop)
        self.mqtt_url = self.broker.url
        self.mqtt = parse_mqtt_url(self.mqtt_url)
        log.info("embedded MQTT broker listening on %s", self.mqtt)
        return self.mqtt, "3.1.1"

    def _start_web(self, s: Settings) -> None:
        self.web = WebServer(s, self.engine, self.reader, self.clock, self.health, self.act, self.feed)
        self.http_url = self.web.start()
        self._stoppers.append(self.web.stop)

    def act(self, alert_id: str, action: str, body: dict[str, Any]) -> dict[str, Any]:
        """An officer's step on an alert (from the web thread); waits for the commit."""
        return alert_fields(self.actions.apply(alert_id, action, body))

    def _on_ingest(self, task: Callable[[], None]) -> None:
        """Runs ``task`` on the ingest thread (bound late: the loop is built after its first users)."""
        self.loop.call_soon(task)

    def _ack(self, items: Sequence[Inbound]) -> None:
        for client in self.clients:
            client.ack(items)

    def reload_all(self) -> None:
        self.pipeline.forget_seqs()
        with transaction(self.engine) as conn:
            rebuild(self.monitor, conn, now=self.clock())

    def reload_some(self, order_ids: list[str], agencies_changed: bool) -> None:
        """Runs on the ingest thread, between batches."""
        with transaction(self.engine) as conn:
            rebuild(self.monitor, conn, order_ids, agencies=agencies_changed, now=self.clock())
        log.info("picked up %d changed orders%s", len(order_ids), " and agencies" if agencies_changed else "")

    def health(self) -> dict[str, Any]:
        subscribed = all(c.subscribed.is_set() for c in self.clients)
        return {
            "ready": subscribed,
            "mqtt": "subscribed" if subscribed else "not connected",
            "alert_publisher": "connected" if self.publisher.connected.is_set() else "not connected",
            "ingest_backlog": self.loop.backlog(),
            "outbox_pending": self.dispatcher.pending(),
            "orders": len(self.monitor.orders),
            "counters": self.metrics.snapshot(),
        }

    def wait_ready(self, timeout: float = 30.0) -> bool:
        return all(c.subscribed.wait(timeout) for c in self.clients) and self.publisher.connected.wait(timeout)

    def stop(self) -> None:
        for stop in reversed(self._stoppers):
            try:
                stop()
            except Exception:  # noqa: BLE001 - keep stopping the rest
                log.exception("error while stopping")
        self._stoppers.clear()
