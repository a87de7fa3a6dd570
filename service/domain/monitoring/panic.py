"""Her panic press: always raised, routed where she is (her fix, else his, else her order's first
zone), to police and the court; after her order's end, in its grace, still an emergency, marked so
(pure). Nothing is told to her phone about a silent press (``notices``)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from alerts import EventType, panic_pressed
from geofence import Fix
from service.wire import PanicPress

from . import health, outcomes
from .fixed_zones import anchor_of
from .quality import effective_ts
from .state import Changes, RoutedEvent

if TYPE_CHECKING:
    from .monitor import Monitor


def pressed(m: Monitor, press: PanicPress, now: datetime, changes: Changes) -> None:
    """A bad or implausible time is replaced by its receive time."""
    ts = effective_ts(press)
    health.seen(m, press.device_id, press.received_at, ts, now, changes)
    hers = [o for o, role in m.roles_of(press.device_id) if role == "victim"]
    in_force = [o for o in hers if m.orders[o].ending is None]
    for order_id in in_force or hers:  # an ended order's grace only where no order in force protects her
        order = m.orders[order_id]
        here = Fix(press.lat, press.lon, press.acc_m, ts) if press.lat is not None else None  # type: ignore[arg-type]
        victim_fix = here or order.victim_fix
        details: dict[str, Any] = {"silent": press.silent, "press_seq": press.seq, "flags": list(press.flags)}
        if order.ending is not None:  # after the order's end, in its grace: still an emergency, marked so
            details.update(after_end=True, order_status=order.ending.status, order_ended_at=order.ending.at)
        event = panic_pressed(order.get(order.panic), m.new_id(), order_id, ts, now, details)
        order.set_slot("panic", event.alert)
        if event.event == EventType.RAISED:
            order.panic_silent[event.alert.alert_id] = press.silent
        where = outcomes.where(victim_fix) or outcomes.where(order.respondent_fix) or anchor_of(order.spec)
        recipients = outcomes.recipients_of(m, order, event.alert.alert_id, where)
        outcomes.publish(m, order, RoutedEvent(event, recipients, order.respondent_fix, victim_fix), changes)
