"""Rebuilding the monitor's in-memory state from the database: the rows are read here, into a
``StoredState``; the monitor puts them where they belong (``Monitor.restore``)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.engine import Connection

from service.adapters.db import (
    agencies_repo,
    alerts_repo,
    config_repo,
    history_repo,
    standing_repo,
    state_repo,
)
from service.domain.monitoring import Monitor, StoredState, devices_to_read

log = logging.getLogger(__name__)


def rebuild(monitor: Monitor, conn: Connection, order_ids: Iterable[str] | None = None, agencies: bool = True,
            now: datetime | None = None) -> None:
    """Load every active order (or just ``order_ids``) with its membership, open alerts and last fixes.

    ``now`` starts the grace in which a victim who has never reported is not yet "signal lost"."""
    ids = None if order_ids is None else list(order_ids)
    stored = read(conn, ids, agencies, now)
    monitor.restore(stored)
    log.info("monitoring state loaded: %d orders, %d devices", len(stored.specs),
             len(devices_to_read(stored.specs, stored.timelines)[0]))


def read(conn: Connection, ids: list[str] | None, agencies: bool, now: datetime | None) -> StoredState:
    """What the database holds of the orders ``ids`` (None: all of them)."""
    directory = agencies_repo.load_agencies(conn) if agencies else None
    specs = config_repo.load_orders(conn, ids)  # one that no longer parses is logged and skipped
    # ended orders in their grace: kept for her panic only (service.domain.ends)
    in_grace = standing_repo.orders_in_grace(conn, now, ids) if now is not None else []
    specs += [spec for spec, _ in in_grace]
    loaded = [s.order_id for s in specs]
    timelines = history_repo.version_timelines(conn, loaded)
    devices, old_devices = devices_to_read(specs, timelines)
    reminded, undecided = history_repo.reminders_sent(conn, loaded)
    return StoredState(
        ids, now, directory, specs, [(spec.order_id, ending) for spec, ending in in_grace], timelines,
        membership=state_repo.load_membership(conn, loaded if ids is not None else None),
        fixes=state_repo.latest_fixes(conn, devices | old_devices),
        last_seen=state_repo.last_seen(conn, devices),
        served=history_repo.service_records(conn, loaded),
        noticed=history_repo.noticed_orders(conn, loaded, "service_overdue"),
        reminded=reminded, undecided=undecided,
        reached=alerts_repo.agencies_reached(conn, loaded),  # resolved alerts' too: all are told of its end
        open_alerts=alerts_repo.load_open_alerts(conn, ids))
