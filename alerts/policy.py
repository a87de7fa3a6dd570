"""When alerts are raised, updated and closed (pure).

Alerts come from transitions, not states: a zone ``enter`` raises one
``zone_breach`` alert for the whole episode; reports inside it update that
alert at most every ``UPDATE_EVERY_S`` seconds of device time; the ``exit``
marks the condition ended. Ending a condition never resolves an alert: a
person does that. Panic presses within ``PANIC_MERGE_S`` of the last press
of an unresolved panic alert merge into it.

Device conditions (tamper, battery, signal) are storm controlled: a
condition that ends and comes back while its alert is unresolved (and, for
one that ended, within ``FLAP_MERGE_S``) continues that alert; after the
first end, its changes are published at most every ``UPDATE_EVERY_S``, the
ones in between folded into the next ``updated`` as ``flips``. A faulty
device flooding open/closed is one alert, not thousands.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from alerts.model import SEVERITY, Alert, AlertEvent, EventType, Kind, Status

UPDATE_EVERY_S = 30.0
PANIC_MERGE_S = 600.0
FLAP_MERGE_S = 600.0  # a device condition back within this of its end continues its unresolved alert


def breach_started(
    alert_id: str, order_id: str, zone_id: str | None, occurred_at: datetime, now: datetime, retroactive: bool,
    details: dict[str, Any], kind: Kind = Kind.ZONE_BREACH, device_id: str | None = None,
) -> AlertEvent:
    """A condition episode begins: a zone breach, or (``kind``) a proximity, pre-alert or lost-signal episode."""
    alert = Alert(
        alert_id=alert_id, order_id=order_id, kind=kind, severity=SEVERITY[kind],
        status=Status.OPEN, occurred_at=occurred_at, raised_at=now, zone_id=zone_id, retroactive=retroactive,
        device_id=device_id,
        last_event_at=now, last_report_ts=occurred_at,
    )
    return AlertEvent(alert, EventType.RAISED, now, details)


def breach_continues(alert: Alert, report_ts: datetime, now: datetime, details: dict[str, Any]) -> AlertEvent | None:
    """An ``updated`` event for a report inside the zone, or None when too soon after the last one."""
    last = alert.last_report_ts
    if last is not None and (report_ts - last).total_seconds() < UPDATE_EVERY_S:
        return None
    return _updated(alert, now, report_ts, details)


def breach_ended(alert: Alert, report_ts: datetime, now: datetime, details: dict[str, Any]) -> AlertEvent:
    ended = replace(alert, condition_active=False)
    return _updated(ended, now, report_ts, {**details, "condition": "ended", "ended_at": report_ts})


def condition_changed(alert: Alert, active: bool, report_ts: datetime, now: datetime, details: dict[str, Any],
                      flips: int = 0) -> AlertEvent:
    """A device condition of an unresolved alert ends or comes back (``flips``: changes folded in since
    the last event, when more than this one)."""
    extra: dict[str, Any] = {"condition": "active" if active else "ended"}
    if not active:
        extra["ended_at"] = report_ts
    if flips > 1:
        extra["flips"] = flips
    return _updated(replace(alert, condition_active=active), now, report_ts, {**details, **extra})


def flip_allowed(last_flip_at: datetime | None, now: datetime) -> bool:
    """Whether a device condition's change may be published now (the first always may)."""
    return last_flip_at is None or (now - last_flip_at).total_seconds() >= UPDATE_EVERY_S


def panic_pressed(
    open_panic: Alert | None, new_alert_id: str, order_id: str, press_ts: datetime, now: datetime,
    details: dict[str, Any],
) -> AlertEvent:
    """Raise a panic alert, or fold a repeated press into the open one."""
    if (
        open_panic is not None
        and open_panic.status != Status.RESOLVED
        and open_panic.last_report_ts is not None
        and abs((press_ts - open_panic.last_report_ts).total_seconds()) <= PANIC_MERGE_S
    ):
        return _updated(open_panic, now, max(press_ts, open_panic.last_report_ts), {**details, "repeat_press": True})
    alert = Alert(
        alert_id=new_alert_id, order_id=order_id, kind=Kind.PANIC, severity=SEVERITY[Kind.PANIC],
        status=Status.OPEN, occurred_at=press_ts, raised_at=now, last_event_at=now, last_report_ts=press_ts,
    )
    return AlertEvent(alert, EventType.RAISED, now, details)


def _updated(alert: Alert, now: datetime, report_ts: datetime, details: dict[str, Any]) -> AlertEvent:
    changed = replace(alert, event_seq=alert.event_seq + 1, last_event_at=now, last_report_ts=report_ts)
    return AlertEvent(changed, EventType.UPDATED, now, details)
