"""Accountability: the JSON figures, and Prometheus metrics at ``/metrics``.

Both are read from the database when asked (alerts and their append-only log), so they are the
same after a restart and agree with each other. The Prometheus side is a custom collector
(``prometheus_client``) over the last 24 hours, plus what is open and unacknowledged now and the
ingest counters.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, Response, jsonify
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from alerts.accountability import STEPS, accountability, owner_of, percentile
from service.domain import access
from service.domain.access import Role
from service.errors import Forbidden
from service.reads.accountability import (
    collector_rows,
    counted,
)
from service.web import deps
from service.web.errors import FieldError, time_arg
from service.web.security import principal
from service.wire.rfc3339 import format_ts

bp = Blueprint("accountability", __name__)
WINDOW = timedelta(hours=24)
MAX_PERIOD = timedelta(days=400)


@bp.get("/api/v1/accountability")
def figures():  # type: ignore[no-untyped-def]
    """Per agency and alert kind over ``?from=...&to=...`` (RFC 3339; default the last 24 h): raised (received),
    owned (its clock), unacknowledged, escalated, acknowledged never dispatched, missed deadlines (acknowledge,
    dispatch, on scene), and the owner's time to acknowledge / dispatch / arrive / resolve (p50, p90).
    A supervisor gets her own agency's figures; an admin every agency's; anyone else 403."""
    agencies = _visible_agencies()
    until = time_arg("to") or datetime.now(UTC)
    since = time_arg("from") or until - WINDOW
    if not since < until or until - since > MAX_PERIOD:
        raise FieldError("from must be before to, at most 400 days apart", "from")
    rows, escalated = counted(deps().engine, since, until)
    table = accountability(rows, escalated)
    return jsonify(period={"from": format_ts(since), "to": format_ts(until)}, figures=[
        {"agency_id": agency, "kind": kind, **f.summary()} for (agency, kind), f in sorted(table.items())
        if agencies is None or agency in agencies])


@bp.get("/metrics")
def metrics():  # type: ignore[no-untyped-def]
    """Prometheus text format, for a scraper with a supervisor's or admin's token (Bearer), cut like the
    JSON figures."""
    registry = CollectorRegistry()
    registry.register(_Collector(_visible_agencies()))
    return Response(generate_latest(registry), mimetype="text/plain; version=0.0.4; charset=utf-8")




def _visible_agencies() -> set[str] | None:
    """None: every agency (admin); else the supervisor's own. 403 for other roles."""
    p = principal()
    if p.role == Role.ADMIN:
        return None
    if not access.may_read_accountability(p, p.agency_id):
        raise Forbidden("supervisors see their agency's figures")
    return {p.agency_id} if p.agency_id else set()


class _Collector(Collector):
    def __init__(self, agencies: set[str] | None) -> None:
        self.agencies = agencies

    def _shown(self, agency: str) -> bool:
        return self.agencies is None or agency in self.agencies

    def collect(self) -> Iterator[Any]:
        now = datetime.now(UTC)
        rows, escalated, open_rows = collector_rows(deps().engine, now - WINDOW, now + timedelta(seconds=1))
        unacked = GaugeMetricFamily("stayaway_alerts_unacknowledged",
                                    "Alerts open and not yet acknowledged by the agency that must act (its owner), now",
                                    labels=["agency", "kind"])
        counts: dict[tuple[str, str], int] = {}
        for kind, recipients, owner in open_rows:
            agency = owner_of({"owner": owner, "recipients": recipients})
            if agency is not None:
                counts[(agency, kind)] = counts.get((agency, kind), 0) + 1
        for (agency, kind), n in sorted(counts.items()):
            if self._shown(agency):
                unacked.add_metric([agency, kind], n)
        yield unacked
        table = accountability(rows, escalated)
        raised = GaugeMetricFamily("stayaway_alerts_raised_24h", "Alerts raised in the last 24 h", labels=["agency", "kind"])
        esc = GaugeMetricFamily("stayaway_alerts_escalated_24h", "Alerts raised in the last 24 h that escalated",
                                labels=["agency", "kind"])
        resp = GaugeMetricFamily("stayaway_alert_response_seconds",
                                 "Seconds from raising to each step of the agency that must act, alerts of the last 24 h",
                                 labels=["agency", "kind", "step", "quantile"])
        missed = GaugeMetricFamily("stayaway_alert_deadlines_missed_24h",
                                   "Deadlines the agency that must act missed, alerts raised in the last 24 h",
                                   labels=["agency", "kind", "deadline"])
        idle = GaugeMetricFamily("stayaway_alerts_acknowledged_never_dispatched_24h",
                                 "Alerts raised in the last 24 h its owner acknowledged and never dispatched a unit to",
                                 labels=["agency", "kind"])
        for (agency, kind), f in sorted(table.items()):
            if not self._shown(agency):
                continue
            raised.add_metric([agency, kind], f.raised)
            esc.add_metric([agency, kind], f.escalated)
            idle.add_metric([agency, kind], f.acknowledged_never_dispatched)
            for deadline, n in f.missed.items():
                missed.add_metric([agency, kind, deadline], n)
            for step in STEPS:
                values = f.seconds[step]
                for q in (50, 90):
                    if values:
                        resp.add_metric([agency, kind, step.removesuffix("_at"), f"0.{q // 10}"],
                                        percentile(values, q) or 0.0)
        yield raised
        yield esc
        yield resp
        yield missed
        yield idle
        health = deps().health()
        counters = GaugeMetricFamily("stayaway_ingest_messages", "Ingest counters since start", labels=["counter"])
        for name, value in sorted((health.get("counters") or {}).items()):
            counters.add_metric([name], float(value))
        yield counters


