"""Where every alert event goes: its recipients, the escalation clock armed when it is raised, the
registry of unresolved alerts, the automatic close of a safe condition that ended, a person's step
on an alert (``act``) and the escalation steps that fall due (pure)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from alerts import Alert, AlertEvent, EventType, Status, route
from alerts.escalation import (
    arm,
    due,
    escalate,
    next_agencies,
    owner_after,
    policy_for,
    response_for,
)
from alerts.lifecycle import SYSTEM, resolve
from alerts.model import Outcome
from alerts.routing import Agency
from geofence import Fix
from service.domain.orders import ZoneSpec
from service.errors import NotFound

from . import notices
from .state import AUTO_CLOSE_KINDS, HEALTH_KINDS, Changes, OrderState, RoutedEvent

if TYPE_CHECKING:
    from .monitor import Monitor


def emit(m: Monitor, order: OrderState, event: AlertEvent, fix: Fix, zone: ZoneSpec | None, distance: float | None,
         changes: Changes, victim: Fix | None = None) -> None:
    """An event of a zone or of the moving zone: routed where his fix is."""
    recipients = recipients_of(m, order, event.alert.alert_id, (fix.lat, fix.lon))
    publish(m, order, RoutedEvent(event, recipients, fix, victim, zone, distance), changes)


def emit_health(m: Monitor, order: OrderState, event: AlertEvent, changes: Changes) -> None:
    """Health alerts go where the respondent is (his last fix), and to the court; never her position."""
    fix = order.respondent_fix
    recipients = recipients_of(m, order, event.alert.alert_id, where(fix))
    publish(m, order, RoutedEvent(event, recipients, fix), changes)


def publish(m: Monitor, order: OrderState, routed: RoutedEvent, changes: Changes) -> None:
    """Arm a new alert's escalation clock, keep the registry of unresolved alerts, tell the
    victim what she should know, and close automatically a safe condition that has ended."""
    event = routed.event
    if event.event == EventType.RAISED:
        event = AlertEvent(_armed(m, event.alert, routed.recipients), event.event, event.at, event.details)
        routed = dataclasses.replace(routed, event=event)
        order.replace(event.alert)
    changes.events.append(routed)
    alert = event.alert
    if alert.status == Status.RESOLVED:
        m.open_alerts.pop(alert.alert_id, None)
    else:
        m.open_alerts[alert.alert_id] = (order.spec.order_id, alert, routed)
    notices.notice(m, order, routed, changes)
    if (not alert.condition_active and alert.kind in AUTO_CLOSE_KINDS and alert.kind not in HEALTH_KINDS
            and alert.status != Status.RESOLVED and event.event != EventType.RESOLVED):
        closed = resolve(alert, SYSTEM, event.at, Outcome.CONDITION_ENDED, None)
        order.replace(closed.alert)
        publish(m, order, dataclasses.replace(routed, event=closed), changes)


def _armed(m: Monitor, alert: Alert, recipients: tuple[str, ...]) -> Alert:
    """The escalation steps and response deadlines a new alert gets; the clock's owner is the police
    recipient (the first recipient only when no police agency received it). A retroactive alert (an
    episode found afterwards) is on record, with no clock."""
    handler = handling_agency(m, recipients)
    retro = alert.retroactive
    return arm(alert, () if retro else policy_for(
        alert.kind, alert.severity, m.escalation_policies, handler.escalation if handler is not None else None),
        handler.agency_id if handler is not None else next(iter(recipients), None),
        None if retro else response_for(alert.kind, handler.response if handler is not None else None))


def handling_agency(m: Monitor, recipients: tuple[str, ...]) -> Agency | None:
    """Whose escalation policy an alert follows: its police recipient's, else its first recipient's."""
    known = [m.agencies[r] for r in recipients if r in m.agencies]
    return next((a for a in known if a.kind == "police"), known[0] if known else None)


def recipients_of(m: Monitor, order: OrderState, alert_id: str, at: tuple[float, float] | None) -> tuple[str, ...]:
    known = order.recipients.get(alert_id)
    if known is None:
        known = tuple(route(m.jurisdictions, order.spec.court_id, at, order.police))
        order.recipients[alert_id] = known
    return known


def act(m: Monitor, alert_id: str, step: Callable[[Alert], AlertEvent], changes: Changes,
        add_recipients: tuple[str, ...] = ()) -> Alert:
    """Apply a lifecycle step (``alerts.lifecycle``) to an unresolved alert; raises ``NotFound`` when there
    is none with that id, ``LifecycleError`` when the step is not allowed."""
    if alert_id not in m.open_alerts:
        raise NotFound(f"no unresolved alert {alert_id}")
    order_id, alert, last = m.open_alerts[alert_id]
    order = m.orders.get(order_id)
    event = step(alert)
    recipients = tuple(dict.fromkeys((*last.recipients, *add_recipients)))
    if order is None:  # the order has ended: still on record, still handled
        changes.events.append(dataclasses.replace(last, event=event, recipients=recipients))
        if event.alert.status == Status.RESOLVED:
            m.open_alerts.pop(alert_id, None)
        else:
            m.open_alerts[alert_id] = (order_id, event.alert, last)
        return event.alert
    order.recipients[alert_id] = recipients
    order.replace(event.alert)
    publish(m, order, dataclasses.replace(last, event=event, recipients=recipients), changes)
    return event.alert


def escalations(m: Monitor, now: datetime, changes: Changes) -> None:
    """The escalation steps that have fallen due, on every unresolved alert (its order ended or not)."""
    for alert_id, (order_id, alert, last) in list(m.open_alerts.items()):
        while due(alert, now):
            event = escalate(alert, now)
            alert = event.alert
            order = m.orders.get(order_id)
            routed = dataclasses.replace(last, event=event)
            if event.details.get("action") == "next_agency":
                added = next_agencies(last.recipients, {a: x.escalate_to for a, x in m.agencies.items()})
                # a police agency added to an alert no police agency owned takes its clock over
                alert = dataclasses.replace(alert, owner=owner_after(
                    alert.owner, added, {a: x.kind for a, x in m.agencies.items()}))
                event = dataclasses.replace(event, alert=alert, details={**event.details, "escalated_to": list(added)})
                routed = dataclasses.replace(last, event=event, recipients=(*last.recipients, *added))
                last = routed
                if order is not None:
                    order.recipients[alert_id] = routed.recipients
            if order is None:
                changes.events.append(routed)
                m.open_alerts[alert_id] = (order_id, alert, last)
            else:
                order.replace(alert)
                publish(m, order, routed, changes)


def where(fix: Fix | None) -> tuple[float, float] | None:
    return (fix.lat, fix.lon) if fix is not None else None
