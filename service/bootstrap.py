"""The composition root of a ``stayaway serve`` process: builds, starts and stops everything.

Order of start: database (migrated), monitoring state, embedded broker when no
MQTT URL is set, alert publisher and dispatcher, ingest loop, ingest client,
config watcher, web server. Nothing connects before :meth:`Runtime.start`.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

from alerts import JurisdictionIndex
from geofence import FrameCache
from service.adapters.broker import EmbeddedBroker, free_port
from service.adapters.db.engine import make_engine, migrate
from service.adapters.db import alerts_repo
from service.adapters.mqtt import PANIC_TOPICS, REPORT_TOPICS, IngestClient, Publisher, parse_mqtt_url
from service.config_watch import ConfigWatcher
from service.dispatcher import Dispatcher
from service.domain.monitor import Monitor
from service.ingest import IngestLoop
from service.metrics import Metrics
from service.pipeline import Inbound, Pipeline
from service.settings import Settings
from service.state import rebuild
from service.web import WebDeps, create_app

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


WATCHDOG_TICK_S = 1.0  # how often the silence watchdog looks (signal_lost within ~1 s of its deadline)


def new_alert_id() -> str:
    return str(uuid.uuid4())


class Runtime:
    def __init__(self, settings: Settings, clock: Callable[[], datetime] = utc_now,
                 new_id: Callable[[], str] = new_alert_id) -> None:
        self.settings, self.clock, self.new_id = settings, clock, new_id
        self.metrics = Metrics()
        self.broker: EmbeddedBroker | None = None
        self._stoppers: list[Callable[[], None]] = []
        self.mqtt_url = settings.mqtt_url
        self.http_url = ""
        self._listening_since: datetime | None = None

    def start(self) -> None:
        s = self.settings
        s.data_path().mkdir(parents=True, exist_ok=True)
        db_url = s.effective_database_url()
        self.engine = make_engine(db_url, s.sqlite_synchronous)
        migrate(self.engine)
        self.reader = make_engine(db_url, s.sqlite_synchronous, writer=False)
        self.monitor = Monitor(FrameCache(), JurisdictionIndex([]), self.new_id)
        with self.engine.begin() as conn:
            rebuild(self.monitor, conn, now=self.clock())
        protocol = s.mqtt_protocol
        if self.mqtt_url is None:
            self.broker = EmbeddedBroker()
            self.broker.start()
            self._stoppers.append(self.broker.stop)
            self.mqtt_url, protocol = self.broker.url, "3.1.1"
            log.info("embedded MQTT broker listening on %s", self.mqtt_url)
        url = parse_mqtt_url(self.mqtt_url)

        self.publisher = Publisher(url, f"{s.mqtt_client_id}-alerts-{uuid.uuid4().hex[:8]}", protocol)
        self.dispatcher = Dispatcher(self.reader, self.publisher, self.clock, self.metrics, self._mark_sent,
                                     s.outbox_retry_s)
        self.pipeline = Pipeline(self.engine, self.monitor, self.clock, s.max_payload_bytes)
        self.loop = IngestLoop(self.pipeline, self._ack, self.dispatcher.notify, self.reload_all, self.metrics,
                               s.max_batch)
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
        ticking = threading.Event()
        threading.Thread(target=self._ticker, args=(ticking,), name="stayaway-watchdog", daemon=True).start()
        self._stoppers.append(ticking.set)
        self._start_web()
        log.info("stayaway serving: mqtt %s, database %s, web %s", url, self.engine.url.render_as_string(), self.http_url)

    def _start_web(self) -> None:
        host, port = self.settings.http_address()
        if port == 0:
            port = free_port(host)
        if self.settings.log_level.upper() != "DEBUG":
            logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
        app = create_app(WebDeps(self.reader, self.health))
        self.http: BaseWSGIServer = make_server(host, port, app, threaded=True)
        thread = threading.Thread(target=self.http.serve_forever, name="stayaway-web", daemon=True)
        thread.start()
        self._stoppers.append(self.http.shutdown)
        self.http_url = f"http://{host}:{self.http.server_port}"

    def _ticker(self, stopped: threading.Event) -> None:
        while not stopped.wait(WATCHDOG_TICK_S):
            self.loop.call_soon(self._tick)

    def _tick(self) -> None:
        """On the ingest thread. Silence is only counted while both sessions are subscribed, and from
        when they last were at the earliest: our own outage is not a device's silence (the broker
        delivers what the devices sent meanwhile first)."""
        if not all(c.subscribed.is_set() for c in self.clients):
            self._listening_since = None
            return
        if self._listening_since is None:
            self._listening_since = self.clock()
        outbox = self.pipeline.tick(self._listening_since)
        if outbox:
            self.dispatcher.notify(outbox)

    def _ack(self, items: Sequence[Inbound]) -> None:
        for client in self.clients:
            client.ack(items)

    def _mark_sent(self, ids: list[int]) -> None:
        """The dispatcher's acknowledged rows are written by the ingest thread, the one writer."""

        def write() -> None:
            with self.engine.begin() as conn:
                alerts_repo.mark_sent(conn, ids, self.clock())

        self.loop.call_soon(write)

    def reload_all(self) -> None:
        self.pipeline.forget_seqs()
        with self.engine.begin() as conn:
            rebuild(self.monitor, conn, now=self.clock())
        self.pipeline.agency_kinds = {}

    def reload_some(self, order_ids: list[str], agencies_changed: bool) -> None:
        """Runs on the ingest thread, between batches."""
        with self.engine.begin() as conn:
            rebuild(self.monitor, conn, order_ids, agencies=agencies_changed, now=self.clock())
        if agencies_changed:
            self.pipeline.agency_kinds = {}
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
