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
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from werkzeug.serving import BaseWSGIServer, make_server

from alerts import Alert, AlertEvent, lifecycle
from alerts.lifecycle import Actor, LifecycleError
from geofence import FrameCache
from service.adapters.broker import EmbeddedBroker, free_port
from service.adapters.channels import Attempt
from service.adapters.channels.webhook import Delivery, WebhookSender
from service.adapters.db import alerts_repo
from service.adapters.db.alerts_repo import DeliveryItem, OutboxItem
from service.adapters.db.engine import make_engine, migrate
from service.adapters.mqtt import (
    PANIC_TOPICS,
    REPORT_TOPICS,
    IngestClient,
    MqttUrl,
    Publisher,
    parse_mqtt_url,
)
from service.config_watch import ConfigWatcher
from service.dispatcher import Dispatcher
from service.domain.directory import Directory
from service.domain.monitor import Monitor
from service.errors import ConfigError
from service.ingest import IngestLoop
from service.live import AlertFeed
from service.metrics import Metrics
from service.pipeline import Inbound, Pipeline
from service.settings import Settings
from service.state import rebuild
from service.web import WebDeps, create_app
from service.wire.rfc3339 import format_ts

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


WATCHDOG_TICK_S = 1.0  # how often the silence watchdog looks (signal_lost within ~1 s of its deadline)
ACT_TIMEOUT_S = 10.0  # how long an officer's request waits for the ingest thread to apply it


def alert_fields(a: Alert) -> dict[str, Any]:
    """An alert as the API returns it after an action (no position: the alert holds none)."""
    def ts(v: datetime | None) -> str | None:
        return format_ts(v) if v is not None else None

    return {"alert_id": a.alert_id, "order_id": a.order_id, "kind": a.kind.value, "severity": a.severity.value,
            "status": a.status.value, "event_seq": a.event_seq, "condition": "active" if a.condition_active else "ended",
            "acknowledged_at": ts(a.acknowledged_at), "acknowledged_by": a.acknowledged_by,
            "dispatched_at": ts(a.dispatched_at), "on_scene_at": ts(a.on_scene_at), "resolved_at": ts(a.resolved_at),
            "resolved_by": a.resolved_by, "outcome": a.outcome, "escalation_level": a.escalation_level,
            "next_escalation_at": ts(a.next_escalation_at), "owner": a.owner,
            "dispatch_due_at": ts(a.dispatch_due_at), "on_scene_due_at": ts(a.on_scene_due_at),
            "missed_deadlines": [{"deadline": d, "agency_id": who} for d, who in a.missed]}


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
        self._listening_since: datetime | None = None
        self._sent_lock = threading.Lock()
        self._sent_ids: list[int] = []  # acknowledged by the broker, not yet marked sent in the outbox
        self._sent_write_queued = False
        self.feed = AlertFeed()  # alert messages for the web app's live board (server-sent events)

    def start(self) -> None:
        s = self.settings
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
        with self.engine.begin() as conn:
            from service.importing import flag_terms

            flag_terms(conn, s.legal_profile, self.clock())  # stored orders beyond their court's term: told, kept
            rebuild(self.monitor, conn, now=self.clock())
        protocol = s.mqtt_protocol
        if self.mqtt_url is None:
            self.broker = EmbeddedBroker()
            self.broker.start()
            self._stoppers.append(self.broker.stop)
            self.mqtt_url, protocol = self.broker.url, "3.1.1"
            url = parse_mqtt_url(self.mqtt_url)
            log.info("embedded MQTT broker listening on %s", url)
        else:
            url = s.mqtt()  # mqtts:// with the TLS files of the settings
        self.mqtt = url

        self.publisher = Publisher(url, f"{s.mqtt_client_id}-alerts-{uuid.uuid4().hex[:8]}", protocol)
        self.dispatcher = Dispatcher(self.reader, self.publisher, self.clock, self.metrics, self._mark_sent,
                                     s.outbox_retry_s)
        self.pipeline = Pipeline(self.engine, self.monitor, self.clock, s.max_payload_bytes)
        self.webhooks: WebhookSender | None = None
        if s.webhook_secret:
            self.webhooks = WebhookSender(self._webhook_attempt, lambda _id: None, self.clock)
            self.webhooks.start()
            self._stoppers.append(self.webhooks.stop)
        self.notifier: Any = None  # AppriseNotifier, when STAYAWAY_APPRISE_CONFIG is set
        self.notify_urls: dict[str, tuple[str, ...]] = {}
        if s.apprise_config:
            self._start_apprise(s.apprise_config)
        self.loop = IngestLoop(self.pipeline, self._ack, self._dispatch_all, self.reload_all, self.metrics,
                               s.max_batch, batch_budget_s=s.batch_budget_ms / 1000)
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
        self.loop.call_soon(self._resubmit_webhooks)
        ticking = threading.Event()
        threading.Thread(target=self._ticker, args=(ticking,), name="stayaway-watchdog", daemon=True).start()
        self._stoppers.append(ticking.set)
        self._start_web()
        log.info("stayaway serving: mqtt %s, database %s, web %s", url,
                 self.engine.url.render_as_string(hide_password=True), self.http_url)  # passwords masked

    def _start_web(self) -> None:
        host, port = self.settings.http_address()
        if port == 0:
            port = free_port(host)
        if self.settings.log_level.upper() != "DEBUG":
            logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
        from pathlib import Path

        from service.auth import Auth
        from service.evidence.bundle import load_or_create_key

        s = self.settings
        key = load_or_create_key(Path(s.evidence_key).expanduser() if s.evidence_key
                                 else s.data_path() / "evidence-key.pem")
        app = create_app(WebDeps(self.reader, self.health, self.act, Auth(self.engine, self.clock),
                                 self._order_admin(s), key, self.feed, s.timezone, s.map_tiles))
        self.http: BaseWSGIServer = make_server(host, port, app, threaded=True)
        thread = threading.Thread(target=self.http.serve_forever, name="stayaway-web", daemon=True)
        thread.start()
        self._stoppers.append(self.http.shutdown)
        self.http_url = f"http://{host}:{self.http.server_port}"

    def act(self, alert_id: str, action: str, body: dict[str, Any]) -> dict[str, Any]:
        """An officer's step on an alert (from the web thread): applied on the ingest thread, the one
        writer and owner of the monitoring state; waits for the commit."""
        actor = Actor(body["actor"], "person", body.get("agency_id"))
        note = body.get("note")
        steps: dict[str, Callable[[Alert, datetime], AlertEvent]] = {
            "acknowledge": lambda a, at: lifecycle.acknowledge(a, actor, at, note),
            "dispatch": lambda a, at: lifecycle.dispatch(a, actor, at, body.get("unit") or "", note),
            "on_scene": lambda a, at: lifecycle.on_scene(a, actor, at, note),
            "resolve": lambda a, at: lifecycle.resolve(a, actor, at, body.get("outcome") or "", note),
            "refer": lambda a, at: lifecycle.refer(a, actor, at, body.get("to_agency") or "", note,
                                                   {i: x.kind for i, x in self.monitor.agencies.items()}),
        }
        done: Future[Alert] = Future()

        def task() -> None:
            try:
                to_agency = body.get("to_agency") if action == "refer" else None
                if to_agency is not None and to_agency not in self.pipeline.known_agencies():
                    raise LifecycleError("unknown_agency", f"no agency {to_agency}")
                alert, outbox = self.pipeline.act(alert_id, steps[action], actor.actor_id,
                                                  (to_agency,) if to_agency else ())
                self._dispatch_all(outbox)
                done.set_result(alert)
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting request
                done.set_exception(exc)

        self.loop.call_soon(task)
        return alert_fields(done.result(timeout=ACT_TIMEOUT_S))

    def _start_apprise(self, path: str) -> None:
        from service.adapters.channels.apprise_channel import (  # loads Apprise
            AppriseNotifier,
            load_agency_urls,
        )

        try:
            self.notify_urls = load_agency_urls(path)
        except ValueError as exc:
            raise ConfigError(f"STAYAWAY_APPRISE_CONFIG: {exc}") from exc
        known = self.pipeline.known_agencies()
        unknown = sorted(set(self.notify_urls) - known)
        if unknown:
            log.warning("Apprise URLs tagged with %d tags that are no agency (not used until such an agency is "
                        "imported): %s", len(unknown), ", ".join(unknown)[:500])
        self.pipeline.notify_agencies = frozenset(self.notify_urls)
        self.notifier = AppriseNotifier(self._apprise_attempt, self._apprise_delivered, self.clock)
        self.notifier.start()
        self._stoppers.append(self.notifier.stop)
        log.info("Apprise: %d agencies with %d URLs", len(self.notify_urls),
                 sum(len(u) for u in self.notify_urls.values()))

    def _apprise_delivered(self, delivery_id: int) -> None:
        """From a notifier thread: every URL of the delivery accepted it (recorded by the one writer)."""
        self.loop.call_soon(lambda: self.pipeline.mark_delivered(delivery_id))

    def _dispatch_all(self, outbox: list[OutboxItem]) -> None:
        """After a commit (on the ingest thread): MQTT messages to the dispatcher, webhooks to their sender."""
        if outbox:
            self.dispatcher.notify(outbox)
            self.feed.publish(outbox)
        deliveries = self.pipeline.take_deliveries()
        if deliveries:
            self._submit_webhooks(deliveries)

    def _submit_webhooks(self, deliveries: Sequence[DeliveryItem]) -> None:
        notes = [d for d in deliveries if d.channel == "apprise"]
        if notes:
            self._submit_notifications(notes)
        if self.webhooks is None:
            return
        secret = self.settings.webhook_secret.encode()
        for d in deliveries:
            if d.channel != "webhook":
                continue
            url = self.pipeline.webhooks.get(d.agency_id)
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
        kinds = self.pipeline.agency_kinds or {}
        for d in deliveries:
            urls = self.notify_urls.get(d.agency_id)
            if not urls:
                log.warning("agency %s no longer has Apprise URLs; delivery %d waits", d.agency_id, d.id)
                continue
            message = orjson.loads(d.payload)
            title, body = human_text(message, police=kinds.get(d.agency_id) == "police")
            self.notifier.submit(Notification(d.id, urls, title, body, d.event_id, d.priority, apprise_type(message)))

    def _resubmit_webhooks(self) -> None:
        """On start: what a previous run did not deliver goes out again (alerts do not expire)."""
        if self.webhooks is None and self.notifier is None:
            return
        with self.reader.connect() as conn:
            pending = alerts_repo.undelivered_webhooks(conn)
        self.pipeline.known_agencies()  # loads the webhook URLs
        self._submit_webhooks(pending)

    def _webhook_attempt(self, a: Attempt) -> None:
        """From a sender thread: the attempt is recorded by the ingest thread, the one writer."""
        self.loop.call_soon(lambda: self.pipeline.record_webhook_attempt(
            a.delivery_id, a.attempt_no, a.at, a.status_code, a.error, a.duration_ms, a.ok))

    def _apprise_attempt(self, a: Attempt) -> None:
        """One URL of an Apprise delivery; the delivery is done only once all have accepted it."""
        self.loop.call_soon(lambda: self.pipeline.record_webhook_attempt(
            a.delivery_id, a.attempt_no, a.at, a.status_code, a.error, a.duration_ms, False, a.target))

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
        self._dispatch_all(self.pipeline.tick(self._listening_since))

    def _ack(self, items: Sequence[Inbound]) -> None:
        for client in self.clients:
            client.ack(items)

    def _mark_sent(self, ids: list[int]) -> None:
        """The dispatcher's acknowledged rows are written by the ingest thread, the one writer; what is
        acknowledged while a write waits joins it (one transaction, not one per dispatcher step)."""
        with self._sent_lock:
            self._sent_ids += ids
            if self._sent_write_queued:
                return
            self._sent_write_queued = True
        self.loop.call_soon(self._write_sent)

    def _write_sent(self) -> None:
        with self._sent_lock:
            ids, self._sent_ids, self._sent_write_queued = self._sent_ids, [], False
        try:
            with self.engine.begin() as conn:
                alerts_repo.mark_sent(conn, ids, self.clock())
        except Exception:  # kept for the next write; meanwhile a rescan may publish them again (consumers dedupe)
            with self._sent_lock:
                self._sent_ids[:0] = ids
            raise

    def reload_all(self) -> None:
        self.pipeline.forget_seqs()
        with self.engine.begin() as conn:
            rebuild(self.monitor, conn, now=self.clock())
        self.pipeline.agency_kinds = {}

    def _order_admin(self, s: Settings) -> Any:
        from service.order_admin import OrderAdmin

        admin = OrderAdmin(self.engine, self.clock, s.legal_profile)
        admin.grace = timedelta(hours=s.end_grace_h)
        return admin

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
