"""Orders as a reader may see them: scopes, the list, one order with its alerts, versions, history,
service, agencies, and the victim's last fix on a need-to-know basis."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from alerts.routing import Agency
from service.adapters.db import (
    agencies_repo,
    alerts_repo,
    config_repo,
    history_repo,
    scope_repo,
    standing_repo,
    state_repo,
)
from service.adapters.db import schema as t
from service.domain import access
from service.domain.orders import OrderSpec
from service.errors import NotFound
from service.reads.alerts import readable, shown_alerts, victim_alerts


def order_scope(engine: Any, order_id: str) -> access.OrderScope | None:
    """The order's scope (court, police in scope...), None for an unknown order."""
    with engine.connect() as conn:
        return scope_repo.order_scopes(conn, [order_id]).get(order_id)


def readable_scope(engine: Any, p: access.Principal, order_id: str) -> access.OrderScope:
    """The scope of an order ``p`` may read; NotFound for an unknown or out-of-scope one (the same answer)."""
    scope = order_scope(engine, order_id)
    if scope is None or not access.may_read_order(p, scope):
        raise NotFound(f"no order {order_id}")
    return scope


def visible_orders(engine: Any, p: access.Principal) -> list[dict[str, Any]]:
    """The order rows ``p`` may read."""
    with engine.connect() as conn:
        scopes = scope_repo.order_scopes(conn)
        return [r for r in config_repo.order_rows(conn)
                if r["order_id"] in scopes and access.may_read_order(p, scopes[r["order_id"]])]


@dataclass(frozen=True)
class OrderView:
    scope: access.OrderScope
    row: dict[str, Any]  # config_repo.order_rows' row
    spec: OrderSpec | None  # the version in force (None: none is)
    alerts: list[dict[str, Any]]  # as the API shows them to the reader (shown_alerts)
    hers: list[dict[str, Any]] | None = None  # her phone's view of them (victim_alerts); None: not her
    ending: dict[str, Any] | None = None  # her order's end and grace (standing_repo.order_ending); None: not her


def order_view(engine: Any, p: access.Principal, order_id: str) -> OrderView:
    """One order as ``p`` may read it, in one connection. NotFound when unknown or out of scope."""
    with engine.connect() as conn:
        scope = scope_repo.order_scopes(conn, [order_id]).get(order_id)
        if scope is None or not access.may_read_order(p, scope):
            raise NotFound(f"no order {order_id}")
        rows = [r for r in config_repo.order_rows(conn) if r["order_id"] == order_id]
        spec = config_repo.load_orders(conn, [order_id])
        alerts = list(readable(p, alerts_repo.alert_rows(conn, order_id=order_id)))
        shown = shown_alerts(conn, p, alerts, len(alerts))
        hers = ending = None
        if p.role == access.Role.VICTIM:
            hers = victim_alerts(conn, p, alerts, len(alerts))
            ending = standing_repo.order_ending(conn, order_id)
    return OrderView(scope, rows[0], spec[0] if spec else None, shown, hers, ending)


def service_status(engine: Any, order_id: str, setting: str | None) -> tuple[dict[str, Any], tuple[str, ...]]:
    """``(served, parties)``: when each party was served, and who its court's legal profile (its agency's,
    else ``setting``) says must be."""
    with engine.connect() as conn:
        served = history_repo.service_records(conn, [order_id]).get(order_id, {})
        court = conn.execute(sa.select(t.orders.c.court_id).where(t.orders.c.order_id == order_id)).scalar()
        parties = agencies_repo.court_profile(conn, court, setting).service.parties if court else ()
    return served, tuple(parties)


def versions(engine: Any, order_id: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return history_repo.order_versions(conn, order_id)


def history(engine: Any, order_id: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return history_repo.order_history(conn, order_id)


def agencies(engine: Any) -> list[Agency]:
    with engine.connect() as conn:
        return agencies_repo.load_agencies(conn)


def map_sources(engine: Any, order_id: str) -> tuple[list[dict[str, Any]], list[Agency]]:
    """What the order page's map is drawn from: the order's versions and the agencies."""
    with engine.connect() as conn:
        return history_repo.order_versions(conn, order_id), agencies_repo.load_agencies(conn)


def victim_fix(engine: Any, p: access.Principal, order_id: str,
               reason: str | None) -> tuple[access.VictimPositionAccess | None, Any]:
    """``(decision, fix)``: the need-to-know decision for ``p`` (None: the order is unknown or out of scope)
    and, only when it allows, the victim's phone's latest fix (None if it has none)."""
    fix = None
    with engine.connect() as conn:  # the reads; the caller audits after, outside this transaction
        scope = scope_repo.order_scopes(conn, [order_id]).get(order_id)
        decision = None
        if scope is not None and access.may_read_order(p, scope):
            open_alerts = [(a["kind"], a["recipients"]) for a in alerts_repo.alert_rows(conn, "open", order_id)]
            decision = access.victim_position_access(p, scope, open_alerts, reason)
            specs = config_repo.load_orders(conn, [order_id])
            device = specs[0].victim.device_id if specs else None
            fix = state_repo.latest_fixes(conn, [device]).get(device) if decision.allowed and device else None
    return decision, fix
