"""The rows the accountability figures are counted from (``alerts.accountability``), for the JSON figures,
the Prometheus collector and the page."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from service.adapters.db import alerts_repo
from service.adapters.db import schema as t
from service.domain import access
from service.domain.her_data import BUCKET, floor
from service.reads.alerts import readable, shown_alerts

COARSE_KINDS = frozenset({"proximity", "pre_alert"})  # the moving zone's (and, by kind alone, fixed zones' pre_alert)


def counted_rows(conn: Any, since: datetime, until: datetime) -> tuple[list[dict[str, Any]], set[str]]:
    """``alerts_repo.accountability_rows`` of [since, until), a moving zone's alerts counted by their raise
    time rounded down (``her_data.BUCKET``, as they are shown to anyone who may not see her): moving the
    period's ends second by second never finds when one was raised. Response times stay exact."""
    rows, escalated = alerts_repo.accountability_rows(conn, since, until + BUCKET)
    rows = [r for r in rows if since <= (floor(r["raised_at"]) if r["kind"] in COARSE_KINDS else r["raised_at"]) < until]
    return rows, escalated & {r["alert_id"] for r in rows}


def counted(engine: Any, since: datetime, until: datetime) -> tuple[list[dict[str, Any]], set[str]]:
    """:func:`counted_rows` on a connection of its own."""
    with engine.connect() as conn:
        return counted_rows(conn, since, until)


def collector_rows(engine: Any, since: datetime,
                   until: datetime) -> tuple[list[dict[str, Any]], set[str], list[tuple[str, Any, str | None]]]:
    """The collector's reads, in one connection: :func:`counted_rows`, and ``(kind, recipients, owner)`` of
    every alert open now."""
    with engine.connect() as conn:
        rows, escalated = counted_rows(conn, since, until)
        open_rows = conn.execute(sa.select(t.alerts.c.kind, t.alerts.c.recipients, t.alerts.c.owner)
                                 .where(t.alerts.c.status == "open")).all()
    return rows, escalated, [tuple(r) for r in open_rows]  # type: ignore[misc]


def page_rows(engine: Any, p: access.Principal, since: datetime,
              until: datetime) -> tuple[list[dict[str, Any]], set[str], list[dict[str, Any]]]:
    """The accountability page's reads, in one connection: :func:`counted_rows`, and at most 200 alerts
    still waiting for their first step (``open``) that ``p`` may read, as the API shows them (the list names
    orders: an admin sees the figures, not the cases)."""
    with engine.connect() as conn:
        rows, escalated = counted_rows(conn, since, until)
        waiting = (a for a in alerts_repo.iter_alert_rows(conn, "open") if a["status"] == "open")
        unanswered = shown_alerts(conn, p, readable(p, waiting), 200)
    return rows, escalated, unanswered
