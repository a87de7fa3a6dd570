"""What the victim's phone is told, and pursuit mode (pure). Every message to a device leaves through
:func:`send`, and only what ``service.domain.disclosure.may_send`` allows: nothing the respondent's
device can read depends on her position or her places."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from alerts import Alert, EventType, Kind
from alerts.lifecycle import SYSTEM
from service.domain import notices as texts
from service.domain.disclosure import may_send
from service.domain.messages import DeviceCommand

from .state import Changes, OrderState, RoutedEvent

if TYPE_CHECKING:
    from .monitor import Monitor

PURSUIT_INTERVAL_S = 15  # reporting interval asked of her phone while a condition is active (never of his tracker)
NOTICE_KINDS_LIVE = frozenset({Kind.ZONE_BREACH, Kind.PROXIMITY, Kind.PRE_ALERT})
_RAISED_TOPIC = {Kind.ZONE_BREACH: "breach", Kind.PROXIMITY: "proximity", Kind.PRE_ALERT: "approach",
                 Kind.PANIC: "panic"}


def send(m: Monitor, order: OrderState, command: DeviceCommand, changes: Changes) -> None:
    """Every message to a device goes through here and only what ``disclosure.may_send`` allows
    leaves: nothing the respondent's device can read depends on her position or her places."""
    roles = m.roles_of(command.device_id)
    if order.ending is not None and any(role == "respondent" for _, role in roles):
        return  # an ended order's phone, released and now someone's tracker: nothing of hers goes to it
    if may_send(command.channel, order.spec.order_id, roles):
        changes.commands.append(command)


def pursuit(m: Monitor, order: OrderState, changes: Changes) -> None:
    """While a breach, proximity or pre-alert is open, the victim's phone reports every 15 s; back to
    her order's interval when all is clear. Sent once per change, tied to the alert that caused it.
    The respondent's tracker keeps the court's interval: a rate that followed these alerts would
    tell him where she is (``service.domain.disclosure``)."""
    active = order.open_conditions()
    if active == order.pursuit:
        return
    order.pursuit = active
    cause = _cause(order) or _latest(changes, order.spec.order_id)
    if cause is None:
        return
    for party in order.spec.parties():
        if party.device_id:
            seconds = PURSUIT_INTERVAL_S if active else party.report_interval_s
            send(m, order, DeviceCommand(party.device_id, {"cmd": "set_interval", "seconds": seconds},
                                         cause.alert_id, cause.event_seq), changes)


def _cause(order: OrderState) -> Alert | None:
    """The open condition that turned pursuit on: a breach (fixed zones first), else a pre-alert."""
    for alert_id in (*order.breach.values(), order.proximity, *order.warn.values(), order.proximity_warn):
        if alert_id is not None:
            return order.alerts[alert_id]
    return None


def notice(m: Monitor, order: OrderState, routed: RoutedEvent, changes: Changes) -> None:
    """What the victim's phone is told (contract section 3; texts in ``service.domain.notices``, in her
    language): that the respondent breached or is approaching, and when it is over; that her panic was
    received; who took the alert up, dispatched, arrived, how it ended, where it was referred or
    escalated. Each says only what truly happened: "police alerted" only when a police agency received
    it. Never his coordinates, nor anything at all about a silent panic (he may be holding her phone),
    nor about a retroactive (evidence-only) alert."""
    phone = order.spec.victim.device_id
    alert = routed.event.alert
    if phone is None or alert.retroactive or (alert.kind == Kind.PANIC and order.panic_silent.get(alert.alert_id)):
        return
    if alert.kind not in (*NOTICE_KINDS_LIVE, Kind.PANIC):
        return  # device health: the officers' business
    locale = texts.locale_of(order.spec.victim.locale)
    topic, facts = _topic(m, order, routed, locale)
    if topic is None:
        return
    body = texts.body(f"{alert.alert_id}:{alert.event_seq}", topic, locale, facts, order.spec.order_id,
                      alert.alert_id)
    send(m, order, DeviceCommand(phone, body, alert.alert_id, alert.event_seq, channel="notices"), changes)


def _topic(m: Monitor, order: OrderState, routed: RoutedEvent, locale: str) -> tuple[str | None, dict[str, Any]]:
    """The notice an event makes (None: none) and its facts."""
    event = routed.event
    alert = event.alert
    action = event.details.get("action")
    if event.event == EventType.RAISED:
        place = texts.word("a_protected_place", locale) if alert.zone_id is None else _zone_name(order, alert.zone_id)
        return _RAISED_TOPIC[alert.kind], {"place": place, "reached": _reached(m, order, routed.recipients, locale)}
    if event.event == EventType.UPDATED and event.details.get("condition") == "ended":
        return ("moved_away" if alert.kind in (Kind.ZONE_BREACH, Kind.PROXIMITY) else None), {}
    if event.event == EventType.ACKNOWLEDGED:
        return "acknowledged", {"agency": _agency_name(m, event.details.get("actor_agency"), locale)}
    if event.event == EventType.UPDATED and action in ("dispatched", "on_scene"):
        topic = "dispatch" if action == "dispatched" else "on_scene"
        return topic, {"agency": _agency_name(m, event.details.get("actor_agency"), locale)}
    if event.event == EventType.UPDATED and action == "referred":
        return "referral", {"agency": _agency_name(m, event.details.get("referred_to"), locale)}
    if event.event == EventType.ESCALATED:
        added = event.details.get("escalated_to") or ()
        to = [_agency_name(m, a, locale) for a in added] or [_agency_name(m, a, locale) for a in routed.recipients]
        return "escalation", {"to": texts.word("list_sep", locale).join(to)}
    if event.event == EventType.RESOLVED and alert.resolved_by != SYSTEM.actor_id:
        return "outcome", {"outcome": texts.outcome_text(alert.outcome, locale)}
    return None, {}


def _reached(m: Monitor, order: OrderState, recipients: Sequence[str], locale: str) -> str:
    """Who an alert truly reached, by name (an agency's id where its name is not known)."""
    def name(a: str) -> str:
        return m.agencies[a].name if a in m.agencies else a

    police = next((name(a) for a in recipients if a != order.spec.court_id and (
        a == order.police or (a in m.agencies and m.agencies[a].kind == "police"))), None)
    court = next((name(a) for a in recipients if a == order.spec.court_id), None)
    return texts.reached(police, court, locale)


def _agency_name(m: Monitor, agency_id: object, locale: str) -> str:
    agency = m.agencies.get(agency_id) if isinstance(agency_id, str) else None
    if agency is None:
        return texts.word("the_police", locale)
    return agency.name


def _zone_name(order: OrderState, zone_id: str) -> str:
    for z in order.spec.zones:
        if z.zone_id == zone_id:
            return z.name
    return zone_id


def _latest(changes: Changes, order_id: str) -> Alert | None:
    for ev in reversed(changes.events):
        if ev.event.alert.order_id == order_id:
            return ev.event.alert
    return None
