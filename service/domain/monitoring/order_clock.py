"""The orders' clock (``service.domain.ends``, ``service.domain.law``): an order whose time is up ends,
announced to every agency concerned and to her phone, and is kept through its grace for her panic only
(its unresolved alerts stay open and handled), then dropped; reminders before expiry (court, police,
her phone); a daily reminder to the court of an order with no end of its own; an order unserved 24 h
after issue is reported to its court, once. The orders are scanned only when the earliest such
deadline has come (pure)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from service.domain import ends, law, profiles
from service.domain.messages import AgencyNotice, DeviceCommand

from .notices import send
from .state import Changes, OrderState

if TYPE_CHECKING:
    from .monitor import Monitor


def tick(m: Monitor, now: datetime, changes: Changes) -> None:
    if m.order_clock_due is not None and now < m.order_clock_due:
        return
    for order in list(m.orders.values()):
        if order.ending is not None:
            if now >= order.ending.grace_until:
                m.remove_order(order.spec.order_id)
            continue
        if _expire(m, order, now, changes):
            continue
        _remind(m, order, now, changes)
        if not order.overdue_noticed:
            _service_overdue(m, order, now, changes)
    m.order_clock_due = next_deadline(m, now)


def _standing(order: OrderState) -> law.Standing:
    spec = order.spec
    return law.Standing(spec.order_id, spec.type, spec.court_id, spec.issued_at, spec.expires_at)


def _expire(m: Monitor, order: OrderState, now: datetime, changes: Changes) -> bool:
    """The order's time is up: it ends (True), announced; her phone back to her order's interval."""
    spec = order.spec
    ended = law.expire(_standing(order), now)
    if ended is None:
        return False
    ending = ends.Ending("expired", ended[0].ended_at or now, ends.grace_until(ended[0].ended_at or now, now, m.grace))
    changes.legal.append(ended[1])
    changes.expired.append((spec.order_id, ending.grace_until))
    announce_end(m, order, ending, None, now, changes)
    phone = spec.victim.device_id
    if order.pursuit and phone:  # her phone back to her order's interval: nothing is watched now
        send(m, order, DeviceCommand(phone, {"cmd": "set_interval", "seconds": spec.victim.report_interval_s},
                                     ends.notice_id(spec.order_id, "pursuit_end"), 1), changes)
    m.end_order(spec.order_id, ending)
    return True


def _remind(m: Monitor, order: OrderState, now: datetime, changes: Changes) -> None:
    """Reminders before expiry, and the daily one of an order with no end of its own."""
    spec = order.spec
    keys, days_left = ends.due_reminders(spec, now, order.reminded, m.reminder_days)
    if keys and days_left is not None:
        order.reminded.update(keys)
        changes.legal.append(law.LegalEvent(spec.order_id, "reminder", now, "system", "system", None,
                                            {"keys": keys, "days_left": days_left}))
        agencies, phone = ends.reminder_notices(spec, keys[-1], days_left, order.police, now)
        changes.agency_notices.extend(agencies)
        for notice in phone:
            send(m, order, notice, changes)
    if ends.undecided_due(spec, now, order.undecided_at):
        order.undecided_at = now
        changes.legal.append(law.LegalEvent(spec.order_id, "undecided", now, "system", "system", None,
                                            {"type": spec.type}))
        changes.agency_notices.append(ends.undecided_notice(spec, now))


def _service_overdue(m: Monitor, order: OrderState, now: datetime, changes: Changes) -> None:
    spec = order.spec
    court = m.agencies.get(spec.court_id)
    try:
        profile = profiles.resolve(court.legal_profile if court is not None else None, m.legal_profile)
    except profiles.UnknownProfile:
        profile = profiles.resolve(None)
    missing = law.service_overdue(_standing(order), order.served, now, profile)
    if missing:
        order.overdue_noticed = True
        changes.legal.append(law.LegalEvent(spec.order_id, "service_overdue", now, "system", "system", None,
                                            {"unserved": missing}))
        changes.agency_notices.append(AgencyNotice(spec.court_id, spec.order_id, "service_overdue", {
            "kind": "service_overdue", "order_id": spec.order_id, "unserved": missing,
            "due_at": spec.issued_at + profile.service.due, "at": now}))


def announce_end(m: Monitor, order: OrderState, ending: ends.Ending, reason: str | None, now: datetime,
                 changes: Changes) -> None:
    others = order.reached | {a for recipients in order.recipients.values() for a in recipients}
    agencies, phone = ends.end_notices(order.spec, ending, reason, order.police, sorted(others), now)
    changes.agency_notices.extend(agencies)
    for notice in phone:
        send(m, order, notice, changes)


def next_deadline(m: Monitor, now: datetime) -> datetime | None:
    """The earliest expiry, reminder, end of a grace, daily reminder, or service deadline not yet
    reported, after ``now`` (None: none at all). Served records change only through a reload, which
    resets it."""
    deadlines = []
    for order in m.orders.values():
        if order.ending is not None:
            deadlines.append(order.ending.grace_until)
            continue
        if order.spec.expires_at is not None:
            deadlines.append(order.spec.expires_at)
        reminder = ends.next_reminder_at(order.spec, order.reminded, m.reminder_days)
        if reminder is not None:
            deadlines.append(max(reminder, now))
        if ends.undecided(order.spec):
            deadlines.append(order.undecided_at + ends.UNDECIDED_EVERY if order.undecided_at is not None
                             else max(now, order.spec.issued_at))
        due = order.spec.issued_at + law.SERVICE_DUE
        if not order.overdue_noticed and due > now:
            deadlines.append(due)
    return min(deadlines, default=now + timedelta(days=3650))
