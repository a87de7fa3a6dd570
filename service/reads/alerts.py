"""Alerts as a reader may see them: the API's list, the board, her phone's view, one alert's scope, and
the need-to-know rights that decide what of her data goes with them (``her_data.without_her_data``)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Any

from service.adapters.db import alerts_repo, scope_repo, timeline_repo
from service.domain import access
from service.domain.her_data import BUCKET, is_moving_zone, without_her_data
from service.errors import Forbidden, NotFound
from service.wire.rfc3339 import format_ts


def readable(p: access.Principal, rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The alert rows ``p`` may read (other agencies' are skipped, never cut off the reader's own)."""
    return (a for a in rows if access.may_read_alert(p, a["recipients"], a["order_id"], a["kind"]))


def alert_list(engine: Any, p: access.Principal, status: str | None, limit: int) -> list[dict[str, Any]]:
    """The API's alert list: at most ``limit``, newest first; ``status`` None: every status. Her phone gets
    her own orders' alerts only, read as such (:func:`victim_alerts`)."""
    with engine.connect() as conn:
        if p.role == access.Role.VICTIM:
            rows = alerts_repo.iter_alert_rows(conn, status, order_ids=p.order_ids)
            return victim_alerts(conn, p, itertools.islice(rows, 5000), limit)
        return shown_alerts(conn, p, readable(p, alerts_repo.iter_alert_rows(conn, status)), limit)


def board_alerts(engine: Any, p: access.Principal, limit: int = 500) -> list[dict[str, Any]]:
    """The live board's first picture: the unresolved (``open`` row status) alerts ``p`` may read."""
    with engine.connect() as conn:
        return shown_alerts(conn, p, readable(p, alerts_repo.iter_alert_rows(conn, "open")), limit)


def device_notices(engine: Any, device_id: str) -> list[dict[str, Any]]:
    """The notices sent to a device (her phone), newest first."""
    with engine.connect() as conn:
        return alerts_repo.device_notices(conn, device_id)


def actionable(engine: Any, p: access.Principal, alert_id: str) -> tuple[str, str, list[str]]:
    """``(order_id, kind, recipients)`` of an alert ``p`` may act on. NotFound for an unknown, out-of-scope
    or resolved one; Forbidden for one ``p`` may only read."""
    with engine.connect() as conn:
        found = scope_repo.alert_scope(conn, alert_id)
    if found is None or not access.may_read_alert(p, found[2], found[0], found[1]):
        raise NotFound(f"no unresolved alert {alert_id}")
    if not access.may_act_on_alert(p, found[2]):
        raise Forbidden("only officers of an agency that received the alert handle it")
    return found


def acted_rights(engine: Any, p: access.Principal, order_id: str, kind: str, alert_id: str) -> tuple[bool, bool]:
    """After a step on an alert: whether ``p`` sees her data on its order, and whether (not seeing it) the
    alert is the moving zone's (its answer comes coarse)."""
    with engine.connect() as conn:
        sees_her = her_data_rights(conn, p, [order_id]).get(order_id, False)
        moving = not sees_her and is_moving_zone({"kind": kind, "zone_id": timeline_repo.alert_zone(conn, alert_id)})
    return sees_her, moving


def victim_alerts(conn: Any, p: access.Principal, rows: Iterable[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """Her phone's view of the alerts about her: not a silent panic's (he may be holding her phone), not a
    retroactive (evidence-only) one, each as :func:`victim_alert`."""
    mine = [a for a in rows if access.may_read_alert(p, a["recipients"], a["order_id"], a["kind"])
            and not a["retroactive"]][:limit * 2]
    silent = alerts_repo.silent_panics(conn, [a["alert_id"] for a in mine])
    return [victim_alert(a) for a in mine if a["alert_id"] not in silent][:limit]


def victim_alert(a: dict[str, Any]) -> dict[str, Any]:
    """An alert about her, as her phone sees it: what it is and how far its handling has come, never a
    position, a distance, nor which agencies (their names are in her notices)."""
    def ts(name: str) -> str | None:
        return format_ts(a[name]) if a.get(name) else None

    by_system = a.get("resolved_by") == "system"  # closed when its condition ended: for the moving zone's
    # warning ring that moment is when he left a ring around her, which no notice of hers says: not shown
    return {"alert_id": a["alert_id"], "order_id": a["order_id"], "kind": a["kind"], "status": a["status"],
            "zone_id": a["zone_id"], "condition": "active" if a["condition_active"] else "ended",
            "raised_at": ts("raised_at"), "acknowledged_at": ts("acknowledged_at"), "dispatched_at": ts("dispatched_at"),
            "on_scene_at": ts("on_scene_at"), "resolved_at": None if by_system else ts("resolved_at"),
            "outcome": a.get("outcome"), "escalation_level": a["escalation_level"]}


def shown_alerts(conn: Any, p: access.Principal, rows: Iterable[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """At most ``limit`` of ``rows`` (alert rows the principal may read, newest first), each as the API gives
    it (:func:`api_alert`, cut by ``her_data.without_her_data`` with the principal's rights on its order),
    newest first by the time shown: a moving zone's alert, for a caller who may not see her, by its time
    rounded down, so neither its place in the list nor whether ``limit`` takes it tells its time to the
    second. Reads past the ``limit``-th row only as far as a rounded time could still come before it."""
    taken: list[dict[str, Any]] = []
    stop_below = None
    for a in rows:
        if stop_below is not None and a["raised_at"] < stop_below:
            break
        taken.append(a)
        if len(taken) == limit:  # later rows were raised earlier still: rounding moves none ahead of these
            stop_below = a["raised_at"] - BUCKET
    rights = her_data_rights(conn, p, {a["order_id"] for a in taken})
    cut = [without_her_data(api_alert(a), rights.get(a["order_id"], False)) for a in taken]
    cut.sort(key=lambda a: a["alert_id"])
    cut.sort(key=lambda a: a["raised_at"], reverse=True)  # stable: the same time, by id (as the query)
    return cut[:limit]


def her_data_rights(conn: Any, p: access.Principal, order_ids: Iterable[str]) -> dict[str, bool]:
    """Per order (absent: no), whether ``p`` may see her data now, positions and places and what is computed
    from them (``her_data.without_her_data``): the need-to-know rule, ``access.victim_position_access``, on
    the order's open alerts (a read that states no reason: break-glass is the timeline's)."""
    if p.role not in access.VICTIM_POSITION_ROLES:
        return {}
    open_alerts = timeline_repo.open_alerts(conn, order_ids)
    wanted = [o for o, kinds in open_alerts.items() if access.open_alert_needs_her(p, kinds)]
    scopes = scope_repo.order_scopes(conn, wanted) if wanted else {}
    return {o: access.victim_position_access(p, scope, open_alerts[o], None).allowed for o, scope in scopes.items()}


def api_alert(a: dict[str, Any]) -> dict[str, Any]:
    """An alert row as the API gives it, before ``without_her_data`` cuts it for the reader."""
    def ts(name: str) -> str | None:
        return format_ts(a[name]) if a.get(name) else None

    return {"alert_id": a["alert_id"], "order_id": a["order_id"], "kind": a["kind"], "severity": a["severity"],
            "status": a["status"], "zone_id": a["zone_id"],
            "condition": "active" if a["condition_active"] else "ended", "retroactive": a["retroactive"],
            "event_seq": a["event_seq"], "recipients": a["recipients"],
            "occurred_at": format_ts(a["occurred_at"]), "raised_at": format_ts(a["raised_at"]),
            "last_event_at": format_ts(a["last_event_at"]),
            "acknowledged_at": ts("acknowledged_at"), "escalation_level": a["escalation_level"],
            "next_escalation_at": ts("next_escalation_at"), "owner": a.get("owner"),
            "dispatch_due_at": ts("dispatch_due_at"), "on_scene_due_at": ts("on_scene_due_at")}
