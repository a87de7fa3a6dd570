"""The database a run uses, and the figures read from it afterwards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.harness.processes import LOOPBACK
from benchmarks.harness.report import summary_ms


def database_url(arg: str, tmp: Path) -> str:
    if arg == "sqlite":
        return f"sqlite:///{tmp / 'bench.sqlite'}"
    from sqlalchemy.engine import make_url

    url = make_url(arg)
    if url.get_backend_name() != "sqlite" and url.host not in (LOOPBACK, "localhost"):
        raise SystemExit("--db: only a database on 127.0.0.1 may be used")
    return arg


def db_figures(db_url: str) -> dict[str, Any]:
    import sqlalchemy as sa

    from service.adapters.db import schema as t

    engine = sa.create_engine(db_url)
    out: dict[str, Any] = {}
    try:
        with engine.connect() as conn:
            for table in (t.location_reports, t.panic_presses, t.status_reports, t.rejected_messages, t.alerts,
                          t.alert_log, t.zone_membership):
                out[table.name] = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()
            out["alerts_by_kind"] = dict(conn.execute(sa.select(t.alerts.c.kind, sa.func.count())
                                                      .group_by(t.alerts.c.kind)).all())
            sent = conn.execute(sa.select(sa.func.count()).where(t.outbox.c.sent_at.is_not(None))).scalar()
            unsent = conn.execute(sa.select(sa.func.count()).where(t.outbox.c.sent_at.is_(None))).scalar()
            out["outbox_sent"], out["outbox_unsent"] = sent, unsent
            rows = conn.execute(sa.select(t.location_reports.c.device_ts, t.location_reports.c.received_at,
                                          t.location_reports.c.processed_at)).all()
    finally:
        engine.dispose()
    if rows:
        first, last = min(r.processed_at for r in rows), max(r.processed_at for r in rows)
        span = (last - first).total_seconds()
        out["processed_span_s"] = span
        out["processed_per_s"] = len(rows) / span if span > 0 else None
        # device_ts is the publish time, truncated to the millisecond
        out["report_publish_to_receive"] = summary_ms([(r.received_at - r.device_ts).total_seconds() for r in rows])
        out["report_publish_to_batch_start"] = summary_ms([(r.processed_at - r.device_ts).total_seconds() for r in rows])
    return out
