"""Rebuilding the monitor's in-memory state from the database."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from alerts import AlertEvent, EventType, Kind
from service.adapters.db import alerts_repo, config_repo, state_repo
from service.domain.monitor import (
    HEALTH_KINDS,
    MOVING_ZONE_ID,
    HealthEpisode,
    Monitor,
    RoutedEvent,
)

log = logging.getLogger(__name__)


def rebuild(monitor: Monitor, conn: Connection, order_ids: Iterable[str] | None = None, agencies: bool = True,
            now: datetime | None = None) -> None:
    """Load every active order (or just ``order_ids``) with its membership, open alerts and last fixes.

    ``now`` starts the grace in which a victim who has never reported is not yet "signal lost"."""
    if agencies:
        monitor.directory.load(config_repo.load_agencies(conn))
    ids = None if order_ids is None else list(order_ids)
    if ids is None:
        monitor.orders.clear()
        monitor.devices.clear()
        monitor.last_ts.clear()
    else:
        for order_id in ids:
            monitor.remove_order(order_id)
    specs = config_repo.load_orders(conn, ids)  # one that no longer parses is logged and skipped
    # ended orders in their grace: kept for her panic only (service.domain.ends)
    in_grace = config_repo.orders_in_grace(conn, now, ids) if now is not None else []
    specs += [spec for spec, _ in in_grace]
    timelines = config_repo.version_timelines(conn, [s.order_id for s in specs])
    loaded = [monitor.load_order(spec, now, *timelines.get(spec.order_id, ((), None))) for spec in specs]
    for spec, ending in in_grace:
        monitor.end_order(spec.order_id, ending)
    if agencies and ids is not None:
        monitor.refresh_police()  # the agencies changed: who answers for each order is found again
    membership = state_repo.load_membership(conn, [s.order_id for s in specs] if ids is not None else None)
    devices = {p.device_id for s in specs for p in s.parties() if p.device_id}
    replaced = _replaced_devices(specs, timelines)  # order id -> [(old device, role)]
    old_devices = {d for pairs in replaced.values() for d, _ in pairs}
    fixes = state_repo.latest_fixes(conn, devices | old_devices)
    for device_id, seen in state_repo.last_seen(conn, devices).items():
        monitor.last_seen[device_id] = max(seen, monitor.last_seen.get(device_id, seen))
    for device_id, fix in fixes.items():
        monitor.last_ts.setdefault(device_id, fix.ts)
        monitor.last_ts[device_id] = max(monitor.last_ts[device_id], fix.ts)
    loaded_ids = [o.spec.order_id for o in loaded]
    served = config_repo.service_records(conn, loaded_ids)
    noticed = config_repo.noticed_orders(conn, loaded_ids, "service_overdue")
    reminded, undecided = config_repo.reminders_sent(conn, loaded_ids)
    reached = alerts_repo.agencies_reached(conn, loaded_ids)  # resolved alerts' too: all are told of its end
    for order in loaded:
        order.served = served.get(order.spec.order_id, {})
        order.reminded = reminded.get(order.spec.order_id, set())
        order.undecided_at = undecided.get(order.spec.order_id)
        order.reached = reached.get(order.spec.order_id, set())
        order.overdue_noticed = order.spec.order_id in noticed
        order.membership = dict(membership.get(order.spec.order_id, {}))
        order.respondent_fix = fixes.get(order.spec.respondent.device_id or "")
        order.victim_fix = fixes.get(order.spec.victim.device_id or "")
        for old, role in replaced.get(order.spec.order_id, ()):
            party = order.spec.respondent if role == "respondent" else order.spec.victim
            new_seen = monitor.last_seen.get(party.device_id or "")
            if new_seen is not None and order.effective_from is not None and new_seen >= order.effective_from:
                continue  # the new device has reported since it was fitted: the old one is released
            monitor.add_handover(order.spec.order_id, old, role)  # no gap while the new one is fitted
            if role == "respondent" and order.respondent_fix is None:
                order.respondent_fix = fixes.get(old)
            elif role == "victim" and order.victim_fix is None:
                order.victim_fix = fixes.get(old)
    if ids is None:
        monitor.open_alerts.clear()
    for alert, recipients in alerts_repo.load_open_alerts(conn, None if ids is None else ids):
        order = monitor.orders.get(alert.order_id)
        # every unresolved alert keeps escalating and can be handled, even once its order has ended
        routed = RoutedEvent(AlertEvent(alert, EventType.UPDATED, alert.last_event_at or alert.raised_at),
                             tuple(recipients), order.respondent_fix if order is not None else None)
        monitor.open_alerts[alert.alert_id] = (alert.order_id, alert, routed)
        if order is None:
            continue
        order.recipients[alert.alert_id] = tuple(recipients)
        if alert.kind == Kind.PANIC:
            order.panic_alert = alert
        elif alert.kind in HEALTH_KINDS and alert.device_id:
            # an ended condition too: it may come back into the same alert, or be closed by the system
            order.health[(alert.device_id, alert.kind)] = alert
            ended = None if alert.condition_active else (alert.last_event_at or alert.raised_at)
            order.episodes_health[(alert.device_id, alert.kind)] = HealthEpisode(
                last_flip_at=ended, ended_at=ended, active=alert.condition_active)
        elif not alert.condition_active:
            continue
        elif alert.kind == Kind.ZONE_BREACH and alert.zone_id and not alert.retroactive:
            # (a zone since removed from the order stays here until the next fix ends its episode)
            order.breach_alerts[alert.zone_id] = alert
        elif alert.kind == Kind.PROXIMITY:
            order.breach_alerts[MOVING_ZONE_ID] = alert
        elif alert.kind == Kind.PRE_ALERT:
            order.warn_alerts[alert.zone_id or MOVING_ZONE_ID] = alert
        elif alert.kind == Kind.VICTIM_SIGNAL_LOST:
            order.signal_alert = alert
    for order in loaded:
        order.pursuit = order.open_conditions()
    log.info("monitoring state loaded: %d orders, %d devices", len(loaded), len(devices))


def _replaced_devices(specs: list[Any], timelines: dict[str, Any]) -> dict[str, list[tuple[str, str]]]:
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
