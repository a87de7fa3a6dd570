"""One micro-batch of inbound messages through one unit of work.

Steps, in order, all in one transaction:
  1. decode every message (``service.wire.decode``); rejections are kept;
  2. check each report's device against the enrolled devices and its role;
  3. drop repeats inside the batch and reports whose ``(device_id, seq)`` is
     already stored; append statuses and panics;
  4. fold new panics, then new locations (per device in device-time order)
     into the monitor, collecting membership changes, alert events, device
     commands and the quality flags it finds, then append the locations with
     those flags;
  5. write what the monitor changed through the one write path (:meth:`Pipeline._write`: membership,
     then the messages the outbound planner decides: alerts, alert log, outbox rows, deliveries), and
     the rejections;
  6. commit. Only then are the messages acknowledged (by the caller).

The watchdog's tick and a person's step on an alert write through the same path. A database out of
reach raises ``StorageUnavailable`` (``service.adapters.db.transaction``); nothing was committed.
"""

from __future__ import annotations

import logging
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy.engine import Connection, Engine

from service.adapters.db import (
    alerts_repo,
    history_repo,
    reports_repo,
    standing_repo,
)
from service.adapters.db.alerts_repo import DeliveryItem, OutboxItem
from service.adapters.db.reports_repo import location_content, status_content
from service.adapters.db.transaction import transaction
from service.domain.monitoring import Changes, Monitor
from service.domain.outbound import plan_messages
from service.wire import (
    Inbound,
    InvalidMessage,
    LocationReport,
    PanicPress,
    Reason,
    StatusReport,
    decode,
)
from service.wire.decode import Decoded, device_of_topic, fallback_panic
from service.wire.evidence import RejectionBudget
from service.wire.owntracks import TOPIC_PREFIX, decode_owntracks, is_owntracks_topic

log = logging.getLogger(__name__)
MAX_LOGGED_REJECTIONS = 20


@dataclass(slots=True)
class BatchResult:
    outbox: list[OutboxItem] = field(default_factory=list)
    accepted: int = 0
    duplicates: int = 0
    late: int = 0
    rejected: Counter = field(default_factory=Counter)


class Pipeline:
    def __init__(self, engine: Engine, monitor: Monitor, clock: Callable[[], datetime],
                 max_payload_bytes: int) -> None:
        self.engine = engine
        self.monitor = monitor
        self.clock = clock
        self.max_payload_bytes = max_payload_bytes
        self.new_deliveries: list[DeliveryItem] = []  # committed deliveries not yet handed to their senders
        self.max_seq: dict[str, int] = {}  # highest stored location seq per device, filled lazily
        self.rejection_budget = RejectionBudget()  # how much of a rejected payload is kept (service.wire.evidence)
        self._in_batch_conflicts: list[tuple[Any, str]] = []  # of the batch being processed (see _decode)
        self._topics: dict[tuple[str, str, int], str] = {}

    def process(self, items: Sequence[Inbound]) -> BatchResult:
        result = BatchResult()
        locations, statuses, panics, rejections, repeats = self._decode(items)
        in_batch = self._in_batch_conflicts
        conflicts = [r for r, _ in in_batch]
        with transaction(self.engine) as conn:
            now = self.clock()
            fresh, stored_conflicts = self._new_locations(conn, locations)
            new_keys = reports_repo.insert_statuses(conn, statuses, now)
            new_status = [r for r in statuses if (r.device_id, r.seq) in new_keys]
            conflicts = [*conflicts, *stored_conflicts, *_status_conflicts(conn, statuses, new_keys)]
            new_panics = reports_repo.insert_panics(conn, panics, now)
            changes = Changes()
            for press in new_panics:
                self.monitor.on_panic(press, now, changes)
            checked = [*fresh, *(r for r in conflicts if isinstance(r, LocationReport))]
            for report in sorted(checked, key=_device_time_order):
                if not self.monitor.on_location(report, now, changes):
                    result.late += 1
            status_checked = [*new_status, *(r for r in conflicts if isinstance(r, StatusReport))]
            for status in sorted(status_checked, key=lambda r: (r.device_id, r.ts, r.seq)):  # after the fixes: routed by them
                self.monitor.on_status(status, now, changes)
            topics = {id(r): topic for r, topic in in_batch}
            rejections = [*rejections, *(self._conflict_evidence(r, topics.get(id(r))) for r in conflicts)]
            if changes.flags:  # what the monitor found (late, out of order, poor accuracy, a jump) is kept with the row
                fresh = [_with_flags(r, changes.flags.get((r.device_id, r.seq))) for r in fresh]
            reports_repo.insert_locations(conn, fresh, now)
            result.outbox, deliveries = self._write(conn, changes, now)
            rejections = [self.rejection_budget.bound(r) for r in rejections]
            reports_repo.insert_rejections(conn, rejections, now)
        self._commit_seqs(fresh)
        self.new_deliveries += deliveries
        result.accepted = len(fresh) + len(new_status) + len(new_panics)
        result.duplicates = repeats + len(locations) + len(statuses) + len(panics) - result.accepted - len(conflicts)
        result.rejected.update(r.reason.value for r in rejections)
        _log_rejections(rejections)
        return result

    def tick(self, listening_since: datetime | None = None) -> list[OutboxItem]:
        """The clock's turn (about once a second): the silence watchdog, escalations, the orders' clock.
        What it changes is written like any other, in one transaction; returns the new outbox rows."""
        with transaction(self.engine) as conn:
            now = self.clock()
            changes = Changes()
            self.monitor.on_tick(now, changes, listening_since)
            outbox, deliveries = self._write(conn, changes, now)
        self.new_deliveries += deliveries
        return outbox

    def act(self, alert_id: str, step: Callable[[Any], Any], actor: str,
            add_recipients: tuple[str, ...] = ()) -> tuple[Any, list[OutboxItem]]:
        """A person's (or an integration's) step on an alert, logged with its actor, in one transaction."""
        with transaction(self.engine) as conn:
            now = self.clock()
            changes = Changes()
            alert = self.monitor.act(alert_id, lambda a: step(a, now), changes, add_recipients)
            outbox, deliveries = self._write(conn, changes, now, actor=actor, source="api")
        self.new_deliveries += deliveries
        return alert, outbox

    def _write(self, conn: Connection, changes: Changes, now: datetime, actor: str = "system",
               source: str = "ingest") -> tuple[list[OutboxItem], list[DeliveryItem]]:
        """The one write path of what the monitor changed: the orders' legal events and ends, zone
        membership, then every message the outbound planner decides (alerts and their log, notices to
        agencies, device commands, deliveries to outside channels). Returns the new outbox rows and
        deliveries, to be handed on after the commit."""
        for event in changes.legal:
            history_repo.add_order_event(conn, event)
        for order_id, grace_until in changes.expired:
            standing_repo.end_order(conn, order_id, "expired", now, grace_until)
        alerts_repo.save_membership(conn, changes.membership, now)
        plan = plan_messages(changes, self.monitor.directory, now)
        return alerts_repo.save_plan(conn, plan, actor=actor, source=source)

    def take_deliveries(self) -> list[DeliveryItem]:
        out, self.new_deliveries = self.new_deliveries, []
        return out

    def record_webhook_attempt(self, delivery_id: int, attempt_no: int, at: datetime, status_code: int | None,
                               error: str | None, duration_ms: float, delivered: bool, target: str | None = None) -> None:
        with transaction(self.engine) as conn:
            alerts_repo.record_webhook_attempt(conn, delivery_id, attempt_no, at, status_code, error, duration_ms,
                                               delivered, target)

    def mark_delivered(self, delivery_id: int) -> None:
        with transaction(self.engine) as conn:
            alerts_repo.mark_delivered(conn, delivery_id, self.clock())

    def forget_seqs(self) -> None:
        """Drop the cached highest seqs (after a failed transaction); they are re-read from the database."""
        self.max_seq.clear()

    def _new_locations(self, conn: Connection, reports: list[LocationReport]
                       ) -> tuple[list[LocationReport], list[LocationReport]]:
        """Reports whose (device_id, seq) is not stored yet, and those whose seq is stored with other content
        (a conflict: see :meth:`_conflict_evidence`). Only a seq at or below the device's highest stored seq
        (a repeat, a late report, a squatter's) costs a database look-up."""
        unknown = list({r.device_id for r in reports} - self.max_seq.keys())
        if unknown:
            found = reports_repo.max_seqs(conn, unknown)
            self.max_seq.update({d: found.get(d, -1) for d in unknown})
        doubtful = [(r.device_id, r.seq) for r in reports if r.seq <= self.max_seq[r.device_id]]
        stored = reports_repo.stored_locations(conn, doubtful) if doubtful else {}
        fresh = [r for r in reports if (r.device_id, r.seq) not in stored]
        conflicts = [_conflicting(r) for r in reports
                     if (r.device_id, r.seq) in stored and stored[(r.device_id, r.seq)] != location_content(r)]
        return fresh, conflicts

    def _conflict_evidence(self, r: LocationReport | StatusReport, topic: str | None) -> InvalidMessage:
        """A report whose (device_id, seq) was already used by a report with other content: two sources
        publish as one device (a clone, or someone squatting the seqs the real device will send next, so that
        its real reports would be dropped as repeats). It is checked live like any report (flag
        ``seq_conflict``: the monitor raises ``device_cloned``) and kept here, raw bytes and all; the table of
        reports keeps the first one under that key."""
        kind = "location" if isinstance(r, LocationReport) else "status"
        topic = topic or self._topics.get((kind, r.device_id, r.seq)) or f"stayaway/v1/devices/{r.device_id}/{kind}"
        return InvalidMessage(topic, r.raw,
                              r.received_at, Reason.SEQ_CONFLICT,
                              f"seq already stored with other content: checked all the same ({kind})", r.device_id,
                              "seq")

    def _commit_seqs(self, reports: list[LocationReport]) -> None:
        for r in reports:
            self.max_seq[r.device_id] = max(self.max_seq[r.device_id], r.seq)

    def store_poison(self, item: Inbound, error: BaseException) -> None:
        """Keep a message that made processing fail as evidence, so it can be acknowledged."""
        rejection = InvalidMessage(item.topic, item.payload, item.received_at, Reason.INTERNAL_ERROR,
                                   f"processing failed: {error.__class__.__name__}", device_of_topic(item.topic))
        with transaction(self.engine) as conn:
            reports_repo.insert_rejections(conn, [self.rejection_budget.bound(rejection)], self.clock())
        _log_rejections([rejection])

    def _decode(self, items: Sequence[Inbound]) -> tuple[list, list, list, list, int]:
        """Decoded reports by kind (repeats within the batch dropped and counted), and rejections."""
        locations: dict[tuple, LocationReport] = {}
        statuses: dict[tuple, StatusReport] = {}
        panics: list[PanicPress] = []
        rejections: list[InvalidMessage] = []
        self._in_batch_conflicts = []  # (report, topic): a second report of one (device_id, seq) in this batch, other content
        self._topics = {}  # (kind, device_id, seq) -> the topic a report came on (for a conflict's evidence)
        enrolled = 0
        for item in items:
            decoded = self._decode_one(item)
            rejections.extend(decoded.rejections)
            for report in decoded.reports:
                problem = self._enrolment_problem(report)
                if problem is not None:
                    rejections.append(InvalidMessage(item.topic, item.payload, item.received_at, problem[0],
                                                     problem[1], report.device_id))
                    continue
                enrolled += 1
                if isinstance(report, LocationReport):
                    first = locations.setdefault((report.device_id, report.seq), report)
                    if first is report:
                        self._topics[("location", report.device_id, report.seq)] = item.topic
                    elif location_content(first) != location_content(report):
                        self._in_batch_conflicts.append((_conflicting(report), item.topic))
                elif isinstance(report, StatusReport):
                    first_status = statuses.setdefault((report.device_id, report.seq), report)
                    if first_status is report:
                        self._topics[("status", report.device_id, report.seq)] = item.topic
                    elif status_content(first_status) != status_content(report):
                        self._in_batch_conflicts.append((_conflicting(report), item.topic))
                else:
                    panics.append(report)
        unique_panics = _unique_panics(panics)
        repeats = enrolled - len(locations) - len(statuses) - len(unique_panics)
        return list(locations.values()), list(statuses.values()), unique_panics, rejections, repeats

    def _decode_one(self, item: Inbound) -> Decoded:
        """One message's reports and rejections. The decoders never raise on bad input; should one fail all the
        same (a bug), that message alone becomes an ``internal_error`` rejection (raw bytes kept, logged with
        the code's location, never the error's text, which could quote a value) and the batch goes on. A
        panic is raised all the same, at its receive time (``fallback_panic``)."""
        try:
            if item.topic.startswith(TOPIC_PREFIX):
                return self._owntracks(item)
            return self._device_topic(item)
        except Exception as exc:  # noqa: BLE001 - one message's defect must not fail its batch
            where = " <- ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}"
                                for f in reversed(traceback.extract_tb(exc.__traceback__)[-3:]))
            log.error("decoder failed on a message on %s: %s at %s; stored as internal_error",
                      _safe_topic(item.topic), exc.__class__.__name__, where)
            out = Decoded(rejections=[InvalidMessage(
                item.topic, item.payload, item.received_at, Reason.INTERNAL_ERROR,
                f"decoding failed: {exc.__class__.__name__}",
                device_of_topic(item.topic) or self.monitor.owntracks.get(item.topic))])
            try:
                press = fallback_panic(item.topic, item.payload, item.received_at, self.max_payload_bytes)
            except Exception:  # noqa: BLE001 - the rejection stands alone
                press = None
            if press is not None:
                out.reports.append(press)
            return out

    def _device_topic(self, item: Inbound) -> Decoded:
        return decode(item.topic, item.payload, item.received_at, self.max_payload_bytes)

    def _owntracks(self, item: Inbound) -> Decoded:
        device_id = self.monitor.owntracks.get(item.topic) if is_owntracks_topic(item.topic) else None
        if device_id is None:
            return Decoded(rejections=[InvalidMessage(item.topic, item.payload, item.received_at, Reason.UNKNOWN_DEVICE,
                                                      "no device of an order in force is enrolled with this "
                                                      "OwnTracks topic")])
        return decode_owntracks(item.topic, item.payload, item.received_at, device_id, self.max_payload_bytes)

    def _enrolment_problem(self, report: LocationReport | StatusReport | PanicPress) -> tuple[Reason, str] | None:
        roles = self.monitor.roles_of(report.device_id)
        if not roles:
            return Reason.UNKNOWN_DEVICE, "device is not enrolled in any active order"
        if isinstance(report, PanicPress) and not any(role == "victim" for _, role in roles):
            return Reason.DEVICE_ROLE, "only a victim's phone may send a panic"
        return None


def _with_flags(r: LocationReport, flags: tuple[str, ...] | None) -> LocationReport:
    return r if flags is None else msgspec.structs.replace(r, flags=flags)


def _device_time_order(r: LocationReport) -> tuple:
    return (r.device_id, r.ts, r.seq)


def _unique_panics(panics: list[PanicPress]) -> list[PanicPress]:
    """Repeats of one press (same seq, same bytes) dropped; a press whose seq another press of other bytes
    used in this batch is kept, without its seq (``seq_conflict``): no press is ever hidden by a seq."""
    seen: dict[tuple, bytes] = {}
    out = []
    for p in panics:
        if p.seq is not None:
            key = (p.device_id, p.seq)
            if key in seen:
                if seen[key] == p.raw:
                    continue
                p = msgspec.structs.replace(p, seq=None, flags=(*p.flags, "seq_conflict"))
            else:
                seen[key] = p.raw
        out.append(p)
    return out


def _conflicting(r: Any) -> Any:
    return msgspec.structs.replace(r, flags=(*r.flags, "seq_conflict"))


def _status_conflicts(conn: Connection, statuses: list[StatusReport], new_keys: set[tuple]) -> list[StatusReport]:
    repeated = [r for r in statuses if (r.device_id, r.seq) not in new_keys]
    if not repeated:
        return []
    stored = reports_repo.stored_statuses(conn, [(r.device_id, r.seq) for r in repeated])
    return [_conflicting(r) for r in repeated if stored.get((r.device_id, r.seq)) not in (None, status_content(r))]


def _log_rejections(rejections: Sequence[InvalidMessage]) -> None:
    for r in rejections[:MAX_LOGGED_REJECTIONS]:
        log.warning("rejected message: reason=%s field=%s device=%s topic=%s item=%s detail=%s",
                    r.reason.value, r.field, r.device_id, _safe_topic(r.topic), r.item_index, r.detail)
    if len(rejections) > MAX_LOGGED_REJECTIONS:
        log.warning("... and %d more rejected messages in this batch", len(rejections) - MAX_LOGGED_REJECTIONS)


def _safe_topic(topic: str) -> str:
    return topic[:200].encode("unicode_escape").decode("ascii")
