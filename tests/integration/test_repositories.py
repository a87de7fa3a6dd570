"""Repositories against a real database (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from alerts.routing import Agency
from service.adapters.db import alerts_repo, config_repo, reports_repo, schema as t
from service.adapters.db.alerts_repo import OutboxItem
from service.domain.orders import parse_agencies, parse_order
from service.wire import InvalidMessage, LocationReport, PanicPress, Reason
from tests.support import builders

NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


def loc(device: str, seq: int, ts: datetime = NOW) -> LocationReport:
    return LocationReport(device, seq, ts, 30.43, 103.86, 5.0, ts, b'{"raw":1}')


def test_migrations_match_the_schema(engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), t.metadata)
    assert diff == []


def test_location_reports_are_idempotent_by_device_and_seq(engine) -> None:
    with engine.begin() as conn:
        first = reports_repo.insert_locations(conn, [loc("trk-1", 1), loc("trk-1", 2), loc("trk-2", 1)], NOW)
        again = reports_repo.insert_locations(conn, [loc("trk-1", 2), loc("trk-1", 3)], NOW)
        count = conn.execute(sa.select(sa.func.count()).select_from(t.location_reports)).scalar()
    assert first == {("trk-1", 1), ("trk-1", 2), ("trk-2", 1)}
    assert again == {("trk-1", 3)}
    assert count == 4


def test_times_round_trip_as_aware_utc(engine) -> None:
    ts = datetime(2026, 11, 21, 16, 15, 30, 250000, tzinfo=UTC)
    with engine.begin() as conn:
        reports_repo.insert_locations(conn, [loc("trk-1", 1, ts)], NOW)
        stored = conn.execute(sa.select(t.location_reports.c.device_ts)).scalar()
    assert stored == ts and stored.tzinfo is not None and stored.utcoffset() == timedelta(0)


def test_panics_without_seq_are_never_deduplicated(engine) -> None:
    p = PanicPress("phone-1", None, NOW, NOW, b"{}", flags=("seq_invalid",))
    keyed = PanicPress("phone-1", 7, NOW, NOW, b"{}")
    with engine.begin() as conn:
        first = reports_repo.insert_panics(conn, [p, p, keyed], NOW)
        second = reports_repo.insert_panics(conn, [p, keyed], NOW)
    assert len(first) == 3 and second == [p]


def test_rejections_keep_raw_bytes_reason_and_time(engine) -> None:
    r = InvalidMessage("stayaway/v1/devices/x/location", b"\xff\xfe", NOW, Reason.INVALID_JSON, "not UTF-8 JSON", "x")
    with engine.begin() as conn:
        reports_repo.insert_rejections(conn, [r], NOW)
        row = conn.execute(sa.select(t.rejected_messages)).mappings().one()
    assert (row["payload"], row["reason"], row["device_id"], row["received_at"]) == (b"\xff\xfe", "invalid_json", "x", NOW)


def test_order_versions_are_kept_and_unchanged_reimport_is_a_no_op(engine) -> None:
    spec = parse_order(builders.order())
    changed = parse_order(builders.order(min_distance_m=800))
    with engine.begin() as conn:
        config_repo.save_agencies(conn, parse_agencies(builders.AGENCIES), NOW)
        v1 = config_repo.save_order(conn, spec, "a.json", NOW)
        v1_again = config_repo.save_order(conn, spec, "a.json", NOW)
        v2 = config_repo.save_order(conn, changed, "b.json", NOW)
        versions = conn.execute(sa.select(t.order_versions.c.version, t.order_versions.c.source)
                                .order_by(t.order_versions.c.version)).all()
        loaded = config_repo.load_orders(conn)
    assert (v1, v1_again, v2) == (1, 1, 2)
    assert [tuple(v) for v in versions] == [(1, "a.json"), (2, "b.json")]
    assert loaded[0].min_distance_m == 800


def test_agencies_round_trip_with_geometry(engine) -> None:
    with engine.begin() as conn:
        config_repo.save_agencies(conn, parse_agencies(builders.AGENCIES), NOW)
        agencies = config_repo.load_agencies(conn)
    assert [a.agency_id for a in agencies] == ["court-xinjin", "police-east", "police-west"]
    assert isinstance(agencies[0], Agency) and agencies[0].jurisdiction is None
    assert agencies[1].jurisdiction["type"] == "MultiPolygon"


def test_outbox_rows_are_unsent_until_marked(engine) -> None:
    rows = [{"alert_id": "a1", "event_seq": 1, "agency_id": ag, "priority": pr, "topic": f"t/{ag}",
             "payload": b"{}", "created_at": NOW} for ag, pr in (("p", 1), ("c", 0), ("x", 2))]
    with engine.begin() as conn:
        conn.execute(sa.insert(t.outbox), rows)
        unsent = alerts_repo.unsent_outbox(conn)
        alerts_repo.mark_sent(conn, [unsent[0].id], NOW)
        left = alerts_repo.unsent_outbox(conn)
    assert [u.topic for u in unsent] == ["t/c", "t/p", "t/x"]  # most urgent first
    assert all(isinstance(u, OutboxItem) for u in unsent)
    assert [u.topic for u in left] == ["t/p", "t/x"]
