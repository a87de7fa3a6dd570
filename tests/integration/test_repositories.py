"""Repositories against a real database (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from alerts.routing import Agency
from service.adapters.db import agencies_repo, alerts_repo, config_repo, reports_repo
from service.adapters.db import schema as t
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


def test_stored_keys_and_highest_seqs_tell_repeats_from_new_reports(engine) -> None:
    with engine.begin() as conn:
        reports_repo.insert_locations(conn, [loc("trk-1", 1), loc("trk-1", 5), loc("trk-2", 1)], NOW)
        existing = reports_repo.existing_location_keys(conn, [("trk-1", 5), ("trk-1", 3), ("trk-2", 1), ("trk-3", 1)])
        highest = reports_repo.max_seqs(conn, ["trk-1", "trk-2", "trk-3"])
    assert existing == {("trk-1", 5), ("trk-2", 1)}
    assert highest == {"trk-1": 5, "trk-2": 1}


def test_a_repeat_that_reaches_the_table_fails_loudly_without_quoting_values(engine) -> None:
    with pytest.raises(sa.exc.IntegrityError) as failure, engine.begin() as conn:
        reports_repo.insert_locations(conn, [loc("trk-1", 1)], NOW)
        reports_repo.insert_locations(conn, [loc("trk-1", 1)], NOW)
    assert "30.43" not in str(failure.value) and "103.86" not in str(failure.value)  # hide_parameters


def test_a_stored_order_that_no_longer_parses_does_not_unload_the_others(engine) -> None:
    with engine.begin() as conn:
        agencies_repo.save_agencies(conn, parse_agencies(builders.AGENCIES), NOW)
        config_repo.save_order(conn, parse_order(builders.order_for(1)), "a", NOW)
        config_repo.save_order(conn, parse_order(builders.order_for(2)), "b", NOW)
        conn.execute(sa.update(t.orders).where(t.orders.c.order_id == "PSO-T-0001").values(body={"broken": True}))
        loaded = config_repo.load_orders(conn)
    assert [o.order_id for o in loaded] == ["PSO-T-0002"]


def test_fast_insert_rows_read_back_like_core_rows(engine) -> None:
    r = LocationReport("trk-9", 42, NOW, 30.43, 103.86, 7.5, NOW + timedelta(seconds=1), b'{"x":1}', 1.5, 90.0, 80,
                       "gps", ("ts_future", "unknown_fields"))
    with engine.begin() as conn:
        reports_repo.insert_locations(conn, [r], NOW + timedelta(seconds=2))
        row = conn.execute(sa.select(t.location_reports)).mappings().one()
    assert {k: v for k, v in row.items() if k != "id"} == {
        "device_id": "trk-9", "seq": 42, "device_ts": NOW, "received_at": NOW + timedelta(seconds=1),
        "processed_at": NOW + timedelta(seconds=2), "lat": 30.43, "lon": 103.86, "acc_m": 7.5, "spd_mps": 1.5,
        "hdg_deg": 90.0, "batt_pct": 80, "src": "gps", "flags": "ts_future,unknown_fields", "raw": b'{"x":1}'}


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
        agencies_repo.save_agencies(conn, parse_agencies(builders.AGENCIES), NOW)
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
        agencies_repo.save_agencies(conn, parse_agencies(builders.AGENCIES), NOW)
        agencies = agencies_repo.load_agencies(conn)
    assert [a.agency_id for a in agencies] == ["court-xinjin", "police-east", "police-west"]
    assert isinstance(agencies[0], Agency) and agencies[0].jurisdiction is None
    assert agencies[1].jurisdiction["type"] == "MultiPolygon"


def test_an_agency_s_escalation_settings_round_trip(engine) -> None:
    body = json.loads(json.dumps(builders.AGENCIES))
    west = next(f for f in body["features"] if f["properties"]["agency_id"] == "police-west")
    west["properties"]["escalation"] = {"critical": [[30, "renotify"], [90, "next_agency"]]}
    west["properties"]["escalate_to"] = ["police-east"]
    with engine.begin() as conn:
        agencies_repo.save_agencies(conn, parse_agencies(body), NOW)
        loaded = {a.agency_id: a for a in agencies_repo.load_agencies(conn)}
    assert loaded["police-west"].escalation == {"critical": [[30, "renotify"], [90, "next_agency"]]}
    assert loaded["police-west"].escalate_to == ("police-east",)
    assert loaded["police-east"].escalation is None and loaded["police-east"].escalate_to == ()


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
