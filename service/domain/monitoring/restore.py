"""The monitor's state rebuilt from what the database holds (after a start, a failed commit, or an
order changed): the caller reads the rows into a :class:`StoredState`; only this package knows where
each goes (pure)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from alerts import Alert, AlertEvent, EventType, Kind
from alerts.routing import Agency
from geofence import Fix, ZoneState
from service.domain import ends
from service.domain.orders import OrderSpec

from .state import HEALTH_KINDS, MOVING_ZONE_ID, HealthEpisode, OrderState, RoutedEvent

if TYPE_CHECKING:
    from .monitor import Monitor

Timeline = tuple[Sequence[tuple[datetime, OrderSpec]], datetime | None]  # earlier versions, current one's start


@dataclass(slots=True)
class StoredState:
    """What the database holds of the orders being (re)loaded, as read."""

    order_ids: list[str] | None  # the orders reloaded (None: all of them, from scratch)
    loaded_at: datetime | None = None  # now: the grace in which a victim who never reported is not "signal lost"
    agencies: list[Agency] | None = None  # every stored agency (None: the directory stays as it is)
    specs: list[OrderSpec] = field(default_factory=list)  # active orders, then ended ones in their grace
    endings: list[tuple[str, ends.Ending]] = field(default_factory=list)  # the ended ones, and how they ended
    timelines: dict[str, Timeline] = field(default_factory=dict)
    membership: dict[str, dict[str, ZoneState]] = field(default_factory=dict)
    fixes: dict[str, Fix] = field(default_factory=dict)  # device -> its latest fix (replaced devices' too)
    last_seen: dict[str, datetime] = field(default_factory=dict)  # device -> its latest message's receipt
    served: dict[str, dict[str, datetime]] = field(default_factory=dict)
    noticed: Collection[str] = ()  # orders whose overdue service was reported
    reminded: dict[str, set[str]] = field(default_factory=dict)
    undecided: dict[str, datetime] = field(default_factory=dict)
    reached: dict[str, set[str]] = field(default_factory=dict)  # every agency an order's alerts went to
    open_alerts: list[tuple[Alert, Sequence[str]]] = field(default_factory=list)  # unresolved, oldest first


def devices_to_read(specs: Sequence[OrderSpec], timelines: dict[str, Timeline]) -> tuple[set[str], set[str]]:
    """The orders' devices, and the devices their current versions replaced (whose fixes are read too)."""
    current = {p.device_id for s in specs for p in s.parties() if p.device_id}
    replaced = {d for pairs in replaced_devices(specs, timelines).values() for d, _ in pairs}
    return current, replaced


def replaced_devices(specs: Sequence[OrderSpec], timelines: dict[str, Timeline]) -> dict[str, list[tuple[str, str]]]:
    """Per order, the devices its current version replaced (the previous version's, per role)."""
    out: dict[str, list[tuple[str, str]]] = {}
    for spec in specs:
        earlier, _ = timelines.get(spec.order_id, ((), None))
        if not earlier:
            continue
        previous = earlier[-1][1]
        for before, now in ((previous.respondent, spec.respondent), (previous.victim, spec.victim)):
            if before.device_id and now.device_id and before.device_id != now.device_id:  # released: no hand-over
                out.setdefault(spec.order_id, []).append((before.device_id, now.role))
    return out


def restore(m: Monitor, stored: StoredState) -> None:
    if stored.agencies is not None:
        m.directory.load(stored.agencies)
    if stored.order_ids is None:
        m.orders.clear()
        m.devices.clear()
        m.last_ts.clear()
    else:
        for order_id in stored.order_ids:
            m.remove_order(order_id)
    loaded = [m.load_order(spec, stored.loaded_at, *stored.timelines.get(spec.order_id, ((), None)))
              for spec in stored.specs]
    for order_id, ending in stored.endings:
        m.end_order(order_id, ending)
    if stored.agencies is not None and stored.order_ids is not None:
        m.refresh_police()  # the agencies changed: who answers for each order is found again
    for device_id, seen in stored.last_seen.items():
        m.last_seen[device_id] = max(seen, m.last_seen.get(device_id, seen))
    for device_id, fix in stored.fixes.items():
        m.last_ts.setdefault(device_id, fix.ts)
        m.last_ts[device_id] = max(m.last_ts[device_id], fix.ts)
    replaced = replaced_devices(stored.specs, stored.timelines)
    for order in loaded:
        _restore_order(m, order, stored, replaced.get(order.spec.order_id, ()))
    if stored.order_ids is None:
        m.open_alerts.clear()
    for alert, recipients in stored.open_alerts:
        _restore_alert(m, alert, tuple(recipients))
    for order in loaded:
        order.pursuit = order.open_conditions()


def _restore_order(m: Monitor, order: OrderState, stored: StoredState, replaced: Sequence[tuple[str, str]]) -> None:
    order_id, spec = order.spec.order_id, order.spec
    order.served = stored.served.get(order_id, {})
    order.reminded = stored.reminded.get(order_id, set())
    order.undecided_at = stored.undecided.get(order_id)
    order.reached = stored.reached.get(order_id, set())
    order.overdue_noticed = order_id in stored.noticed
    order.membership = dict(stored.membership.get(order_id, {}))
    order.respondent_fix = stored.fixes.get(spec.respondent.device_id or "")
    order.victim_fix = stored.fixes.get(spec.victim.device_id or "")
    for old, role in replaced:
        party = spec.respondent if role == "respondent" else spec.victim
        new_seen = m.last_seen.get(party.device_id or "")
        if new_seen is not None and order.effective_from is not None and new_seen >= order.effective_from:
            continue  # the new device has reported since it was fitted: the old one is released
        m.add_handover(order_id, old, role)  # no gap while the new one is fitted
        if role == "respondent" and order.respondent_fix is None:
            order.respondent_fix = stored.fixes.get(old)
        elif role == "victim" and order.victim_fix is None:
            order.victim_fix = stored.fixes.get(old)


def _restore_alert(m: Monitor, alert: Alert, recipients: tuple[str, ...]) -> None:
    """Every unresolved alert keeps escalating and can be handled, even once its order has ended; one
    whose order is monitored goes back into its slot."""
    order = m.orders.get(alert.order_id)
    routed = RoutedEvent(AlertEvent(alert, EventType.UPDATED, alert.last_event_at or alert.raised_at),
                         recipients, order.respondent_fix if order is not None else None)
    m.open_alerts[alert.alert_id] = (alert.order_id, alert, routed)
    if order is None:
        return
    order.recipients[alert.alert_id] = recipients
    if alert.kind == Kind.PANIC:
        order.set_slot("panic", alert)
    elif alert.kind in HEALTH_KINDS and alert.device_id:
        # an ended condition too: it may come back into the same alert, or be closed by the system
        key = (alert.device_id, alert.kind)
        if order.health.get(key) not in (None, alert.alert_id):
            order.release(order.health[key])
        order.health[key] = order.hold(alert)
        ended = None if alert.condition_active else (alert.last_event_at or alert.raised_at)
        order.episodes_health[key] = HealthEpisode(last_flip_at=ended, ended_at=ended, active=alert.condition_active)
    elif not alert.condition_active:
        return
    elif alert.kind == Kind.ZONE_BREACH and alert.zone_id and not alert.retroactive:
        # (a zone since removed from the order stays here until the next fix ends its episode)
        order.open_episode(alert.zone_id, alert)
    elif alert.kind == Kind.PROXIMITY:
        order.open_episode(MOVING_ZONE_ID, alert)
    elif alert.kind == Kind.PRE_ALERT:
        order.open_episode(alert.zone_id or MOVING_ZONE_ID, alert, warning=True)
    elif alert.kind == Kind.VICTIM_SIGNAL_LOST:
        order.set_slot("signal", alert)
