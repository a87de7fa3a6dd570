"""alerts.accountability: response times per agency and kind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerts.accountability import accountability, percentile

T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


def row(alert_id: str, kind: str, ack_s: float | None, resolve_s: float | None = None,
        recipients: tuple[str, ...] = ("police-west", "court-xinjin")) -> dict:
    return {"alert_id": alert_id, "kind": kind, "raised_at": T0, "recipients": list(recipients),
            "acknowledged_at": T0 + timedelta(seconds=ack_s) if ack_s is not None else None,
            "dispatched_at": None, "on_scene_at": None,
            "resolved_at": T0 + timedelta(seconds=resolve_s) if resolve_s is not None else None}


def test_nearest_rank_percentiles_are_values_from_the_data():
    assert percentile([], 50) is None
    assert percentile([30.0], 90) == 30.0
    assert percentile([10.0, 20.0, 30.0, 40.0], 50) == 20.0
    assert percentile([10.0, 20.0, 30.0, 40.0], 90) == 40.0
    assert percentile(list(map(float, range(1, 101))), 90) == 90.0


def test_each_recipient_agency_is_accountable_per_kind():
    rows = [row("a", "zone_breach", 30), row("b", "zone_breach", 90, 600), row("c", "zone_breach", None),
            row("d", "panic", 12, recipients=("police-east", "court-xinjin"))]
    table = accountability(rows, escalated_ids={"c"})
    west = table[("police-west", "zone_breach")].summary()
    assert (west["raised"], west["unacknowledged"], west["escalated"]) == (3, 1, 1)
    assert west["time_to_acknowledge"] == {"n": 2, "p50_s": 30.0, "p90_s": 90.0}
    assert west["time_to_resolve"] == {"n": 1, "p50_s": 600.0, "p90_s": 600.0}
    assert west["time_to_dispatch"] == {"n": 0, "p50_s": None, "p90_s": None}
    assert table[("court-xinjin", "zone_breach")].raised == 3
    assert table[("police-east", "panic")].summary()["time_to_acknowledge"]["p50_s"] == 12.0
    assert ("police-east", "zone_breach") not in table
