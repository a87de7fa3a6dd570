"""Alerts: current state, the append-only log, zone membership and the outbox.

What goes out is decided by the outbound planner (``service.domain.outbound``: encoding, topic,
priority, channels); this module only writes it and reads it back."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from alerts import Alert, Kind, Severity, Status
from service.adapters.db import schema as t
from service.adapters.db.upsert import upsert
from service.domain import outbound
from service.domain.messages import AgencyNotice, DeviceCommand
from service.domain.monitoring import MembershipChange
from service.domain.outbound import CHANNELS, Message, Plan
from service.wire.encode import device_topic


@dataclass(frozen=True, slots=True)
class DeliveryItem:
    """A durable delivery of one alert message to an agency's webhook, or (``channel="apprise"``) to its
    Apprise URLs."""

    id: int
    agency_id: str
    event_id: str
    priority: int
    payload: bytes
    channel: str = "webhook"


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    priority: int
    topic: str
    payload: bytes


def save_membership(conn: Connection, changes: Sequence[MembershipChange], now: datetime) -> None:
    rows = {(c.order_id, c.zone_id): {
        "order_id": c.order_id, "zone_id": c.zone_id, "inside": c.state.inside, "since": c.state.since,
        "warned": c.state.warned, "possibles": c.state.possibles, "alert_id": c.alert_id, "updated_at": now} for c in changes}
    if rows:
        upsert(conn, t.zone_membership, list(rows.values()), ["order_id", "zone_id"])


def save_plan(conn: Connection, plan: Plan, actor: str = "system",
              source: str = "ingest") -> tuple[list[OutboxItem], list[DeliveryItem]]:
    """Insert what the outbound planner decided (``service.domain.outbound``), in the caller's transaction:
    the alerts' state, their log records (with ``actor`` and ``source``), the outbox rows and a durable
    delivery per outside channel. Returns the new outbox rows (alert messages, device commands, notices
    to agencies) and the new deliveries."""
    if plan.alerts:  # one statement per table for the whole batch: ~1.7 ms an event when written one by one
        upsert(conn, t.alerts, [_alert_row(a, recipients) for a, recipients in plan.alerts.values()], ["alert_id"])
        conn.execute(sa.insert(t.alert_log), [
            {"alert_id": e.alert_id, "event_seq": e.event_seq, "event": e.event, "status": e.status, "actor": actor,
             "source": source, "at": e.at, "message": e.messages, "note": e.note} for e in plan.log])
    written = _insert_outbox(conn, plan.messages())  # notices first, then alert messages and commands
    deliveries = [(channel, m) for channel in CHANNELS for m in plan.alert_messages if channel in m.channels]
    dids = conn.execute(sa.insert(t.webhook_deliveries).returning(t.webhook_deliveries.c.id, sort_by_parameter_order=True), [
        {"agency_id": m.recipient, "event_id": m.event_id, "priority": m.priority, "payload": m.payload,
         "created_at": m.created_at, "channel": channel} for channel, m in deliveries]).scalars().all() if deliveries else []
    notices = len(plan.notices)
    return written[notices:] + written[:notices], [DeliveryItem(d, m.recipient, m.event_id, m.priority, m.payload, channel)
                    for d, (channel, m) in zip(dids, deliveries, strict=True)]


def _insert_outbox(conn: Connection, messages: Sequence[Message]) -> list[OutboxItem]:
    if not messages:
        return []
    rows = [{"alert_id": m.alert_id, "event_seq": m.event_seq, "agency_id": m.recipient, "priority": m.priority,
             "topic": m.topic, "payload": m.payload, "created_at": m.created_at} for m in messages]
    ids = conn.execute(sa.insert(t.outbox).returning(t.outbox.c.id, sort_by_parameter_order=True), rows).scalars().all()
    return [OutboxItem(i, m.priority, m.topic, m.payload) for i, m in zip(ids, messages, strict=True)]


def undelivered_webhooks(conn: Connection, limit: int = 10_000) -> list[DeliveryItem]:
    c = t.webhook_deliveries.c
    q = sa.select(c.id, c.agency_id, c.event_id, c.priority, c.payload, c.channel).where(c.delivered_at.is_(None)) \
        .order_by(c.priority, c.id).limit(limit)
    return [DeliveryItem(r.id, r.agency_id, r.event_id, r.priority, r.payload, r.channel) for r in conn.execute(q)]


def record_webhook_attempt(conn: Connection, delivery_id: int, attempt_no: int, at: datetime, status_code: int | None,
                           error: str | None, duration_ms: float, delivered: bool, target: str | None = None) -> None:
    """One attempt, counted on its delivery; ``delivered`` also stamps the delivery done (a webhook's 2xx;
    for Apprise, once every URL has accepted the message: see ``mark_delivered``)."""
    conn.execute(sa.insert(t.webhook_attempts).values(delivery_id=delivery_id, attempt_no=attempt_no, at=at,
                                                      status_code=status_code, error=error, duration_ms=duration_ms,
                                                      target=target))
    values: dict[str, Any] = {"attempts": t.webhook_deliveries.c.attempts + 1}
    if delivered:
        values["delivered_at"] = at
    conn.execute(sa.update(t.webhook_deliveries).where(t.webhook_deliveries.c.id == delivery_id).values(**values))


def mark_delivered(conn: Connection, delivery_id: int, at: datetime) -> None:
    c = t.webhook_deliveries.c
    conn.execute(sa.update(t.webhook_deliveries).where(c.id == delivery_id, c.delivered_at.is_(None))
                 .values(delivered_at=at))


def save_commands(conn: Connection, commands: Sequence[DeviceCommand], now: datetime) -> list[OutboxItem]:
    """Device commands and notices (contract section 3) through the outbox, like alert messages.
    ``agency_id`` holds the device id: the outbox's recipient column; the topic says it is a device."""
    return _insert_outbox(conn, outbound.command_messages(commands, now))


def save_agency_notices(conn: Connection, notices: Sequence[AgencyNotice], now: datetime) -> list[OutboxItem]:
    """Notices to agencies (``stayaway/v1/agencies/{id}/notices``) through the outbox; the outbox's
    ``alert_id`` holds a name-based UUID of the notice (order and kind), its ``notice_id``."""
    return _insert_outbox(conn, outbound.notice_messages(notices, now))


def agencies_reached(conn: Connection, order_ids: Sequence[str]) -> dict[str, set[str]]:
    """Per order, every agency any of its alerts went to."""
    out: dict[str, set[str]] = {}
    for chunk in (list(order_ids)[i:i + 500] for i in range(0, len(order_ids), 500)):
        q = sa.select(t.alerts.c.order_id, t.alerts.c.recipients).where(t.alerts.c.order_id.in_(chunk))
        for order_id, recipients in conn.execute(q):
            out.setdefault(order_id, set()).update(recipients or ())
    return out


def silent_panics(conn: Connection, alert_ids: Sequence[str]) -> set[str]:
    """Of these panic alerts, the ones raised by a silent press (nothing about them may show on her phone)."""
    if not alert_ids:
        return set()
    q = sa.select(t.alert_log.c.alert_id, t.alert_log.c.message).where(
        t.alert_log.c.alert_id.in_(list(alert_ids)), t.alert_log.c.event == "raised")
    return {a for a, messages in conn.execute(q)
            if any(isinstance(m, dict) and m.get("silent") for m in (messages or {}).values())}


def device_notices(conn: Connection, device_id: str, limit: int = 100) -> list[dict[str, Any]]:
    q = sa.select(t.outbox.c.payload).where(t.outbox.c.topic == device_topic(device_id, "notices")) \
        .order_by(t.outbox.c.id.desc()).limit(limit)
    return [orjson.loads(p) for (p,) in conn.execute(q)]


def _alert_row(a: Alert, recipients: Sequence[str]) -> dict[str, Any]:
    return {
        "alert_id": a.alert_id, "order_id": a.order_id, "kind": a.kind.value, "severity": a.severity.value,
        "status": a.status.value, "zone_id": a.zone_id, "device_id": a.device_id, "retroactive": a.retroactive,
        "condition_active": a.condition_active, "event_seq": a.event_seq, "recipients": list(recipients),
        "occurred_at": a.occurred_at, "raised_at": a.raised_at, "last_event_at": a.last_event_at,
        "last_report_ts": a.last_report_ts, "acknowledged_at": a.acknowledged_at, "acknowledged_by": a.acknowledged_by,
        "dispatched_at": a.dispatched_at, "on_scene_at": a.on_scene_at, "resolved_at": a.resolved_at,
        "resolved_by": a.resolved_by, "outcome": a.outcome, "escalation": [list(s) for s in a.escalation],
        "escalation_level": a.escalation_level, "next_escalation_at": a.next_escalation_at, "owner": a.owner,
        "response": list(a.response) if a.response is not None else None, "dispatch_due_at": a.dispatch_due_at,
        "on_scene_due_at": a.on_scene_due_at, "missed": [list(m) for m in a.missed] or None}


def load_open_alerts(conn: Connection, order_ids: Sequence[str] | None = None) -> list[tuple[Alert, list[str]]]:
    q = sa.select(t.alerts).where(t.alerts.c.status != Status.RESOLVED.value).order_by(t.alerts.c.raised_at)
    if order_ids is not None:
        q = q.where(t.alerts.c.order_id.in_(list(order_ids)))
    return [(_alert(r), list(r["recipients"])) for r in conn.execute(q).mappings()]


def _alert(r: Any) -> Alert:
    return Alert(
        alert_id=r["alert_id"], order_id=r["order_id"], kind=Kind(r["kind"]), severity=Severity(r["severity"]),
        status=Status(r["status"]), occurred_at=r["occurred_at"], raised_at=r["raised_at"], zone_id=r["zone_id"],
        device_id=r["device_id"],
        retroactive=r["retroactive"], condition_active=r["condition_active"], event_seq=r["event_seq"],
        last_event_at=r["last_event_at"], last_report_ts=r["last_report_ts"], acknowledged_at=r["acknowledged_at"],
        acknowledged_by=r["acknowledged_by"], dispatched_at=r["dispatched_at"], on_scene_at=r["on_scene_at"],
        resolved_at=r["resolved_at"], resolved_by=r["resolved_by"], outcome=r["outcome"],
        escalation=tuple((float(a), str(b)) for a, b in (r["escalation"] or [])),
        escalation_level=r["escalation_level"], next_escalation_at=r["next_escalation_at"], owner=r["owner"],
        response=(float(r["response"][0]), float(r["response"][1])) if r["response"] else None,
        dispatch_due_at=r["dispatch_due_at"], on_scene_due_at=r["on_scene_due_at"],
        missed=tuple((str(d), str(a)) for d, a in (r["missed"] or [])))


def unsent_outbox(conn: Connection, limit: int = 10_000, created_before: datetime | None = None) -> list[OutboxItem]:
    q = (sa.select(t.outbox.c.id, t.outbox.c.priority, t.outbox.c.topic, t.outbox.c.payload)
         .where(t.outbox.c.sent_at.is_(None)).order_by(t.outbox.c.priority, t.outbox.c.id).limit(limit))
    if created_before is not None:
        q = q.where(t.outbox.c.created_at < created_before)
    return [OutboxItem(r.id, r.priority, r.topic, r.payload) for r in conn.execute(q)]


def mark_sent(conn: Connection, ids: Sequence[int], now: datetime) -> None:
    for chunk in range(0, len(ids), 500):
        part = list(ids[chunk:chunk + 500])
        conn.execute(sa.update(t.outbox).where(t.outbox.c.id.in_(part), t.outbox.c.sent_at.is_(None))
                     .values(sent_at=now, attempts=t.outbox.c.attempts + 1))


def accountability_rows(conn: Connection, since: datetime, until: datetime) -> tuple[list[dict[str, Any]], set[str]]:
    """Alerts raised in [since, until) with their step times, and the ids of those that escalated."""
    c = t.alerts.c
    rows = [dict(r) for r in conn.execute(
        sa.select(c.alert_id, c.kind, c.raised_at, c.recipients, c.owner, c.missed, c.acknowledged_at, c.dispatched_at,
                  c.on_scene_at, c.resolved_at).where(c.raised_at >= since, c.raised_at < until)).mappings()]
    escalated = set(conn.execute(
        sa.select(t.alert_log.c.alert_id).join(t.alerts, t.alerts.c.alert_id == t.alert_log.c.alert_id)
        .where(t.alert_log.c.event == "escalated", c.raised_at >= since, c.raised_at < until).distinct()).scalars())
    return rows, escalated


def alert_rows(conn: Connection, status: str | None = None, order_id: str | None = None) -> list[dict[str, Any]]:
    return list(itertools.islice(iter_alert_rows(conn, status, order_id), 1000))


def iter_alert_rows(conn: Connection, status: str | None = None, order_id: str | None = None,
                    page: int = 1000, order_ids: Iterable[str] | None = None) -> Iterator[dict[str, Any]]:
    """Alerts newest first, read a page at a time (the caller filters by scope and stops when it has enough);
    ``order_ids``: of these orders only (her phone's)."""
    q = sa.select(t.alerts.c.alert_id, t.alerts.c.order_id, t.alerts.c.kind, t.alerts.c.severity, t.alerts.c.status,
                  t.alerts.c.zone_id, t.alerts.c.condition_active, t.alerts.c.retroactive, t.alerts.c.event_seq,
                  t.alerts.c.recipients, t.alerts.c.occurred_at, t.alerts.c.raised_at, t.alerts.c.last_event_at,
                  t.alerts.c.acknowledged_at, t.alerts.c.escalation_level, t.alerts.c.next_escalation_at,
                  t.alerts.c.owner, t.alerts.c.dispatch_due_at, t.alerts.c.on_scene_due_at, t.alerts.c.dispatched_at,
                  t.alerts.c.on_scene_at, t.alerts.c.resolved_at, t.alerts.c.resolved_by, t.alerts.c.outcome)
    if order_ids is not None:
        q = q.where(t.alerts.c.order_id.in_(list(order_ids)))
    if status == "open":  # everything not yet resolved: open, acknowledged, dispatched, on scene
        q = q.where(t.alerts.c.status != Status.RESOLVED.value)
    elif status is not None:
        q = q.where(t.alerts.c.status == status)
    if order_id is not None:
        q = q.where(t.alerts.c.order_id == order_id)
    q = q.order_by(t.alerts.c.raised_at.desc(), t.alerts.c.alert_id)
    offset = 0
    while True:
        rows = [dict(r) for r in conn.execute(q.limit(page).offset(offset)).mappings()]
        yield from rows
        if len(rows) < page:
            return
        offset += page

