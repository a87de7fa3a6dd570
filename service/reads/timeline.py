"""What an order's timeline is read from, for a reader whose scope was checked: the need-to-know decision,
the tracks, the alert events and the windows where his fixes are withheld (``her_data.withheld_windows``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from service.adapters.db import alerts_repo, config_repo, timeline_repo
from service.domain import access, her_data

MAX_POINTS = timeline_repo.MAX_POINTS  # per track and window: a timeline holds at most this many fixes


@dataclass(frozen=True)
class TimelineReads:
    decision: access.VictimPositionAccess
    his: list[dict[str, Any]]  # the respondent's track in the period
    hers: list[dict[str, Any]] | None  # the victim's, only when the decision allows
    events: list[dict[str, Any]]  # the order's alert events of the period (and a bucket after it)
    windows: list[her_data.Window]  # where his fixes are withheld (none when the decision allows)


def timeline_reads(engine: Any, p: access.Principal, scope: access.OrderScope, order_id: str, since: datetime,
                   until: datetime, reason: str | None) -> TimelineReads:
    """The reads of ``order_id``'s timeline over [since, until), in one connection: the victim's track only
    when ``access.victim_position_access`` allows (an open alert that needs it, or ``reason``)."""
    windows: list[her_data.Window] = []
    with engine.connect() as conn:
        open_alerts = [(a["kind"], a["recipients"]) for a in alerts_repo.alert_rows(conn, "open", order_id)]
        decision = access.victim_position_access(p, scope, open_alerts, reason)
        periods = timeline_repo.device_periods(conn, [order_id]).get(order_id, [])
        his = timeline_repo.track_in(conn, periods, "respondent", since, until)
        hers = timeline_repo.track_in(conn, periods, "victim", since, until) if decision.allowed else None
        # a moving zone's event counts by its time rounded down (read a bucket further, then cut)
        events = timeline_repo.alert_events(conn, order_id, since, until + her_data.BUCKET)
        if not decision.allowed:
            watched = any(s.min_distance_m is not None for s in config_repo.load_orders(conn, [order_id]))
            windows = her_data.withheld_windows(
                timeline_repo.moving_zone_spans(conn, order_id, since, until),
                timeline_repo.latest_fix_ts(conn, periods, "respondent") if watched else None)
    return TimelineReads(decision, his, hers, events, windows)
