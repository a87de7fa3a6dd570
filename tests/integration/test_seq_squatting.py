"""A seq is the idempotency key, not a claim anyone may stake (issue 12, attack review F1).

A second connection as his tracker publishes far-away reports under the seqs the real tracker will
send next. Dropping the real ones as repeats would hide his walk into her home and leave no record
of it. A repeat of a stored (device_id, seq) with *other content* is a conflict: checked live like
any report, kept as evidence (``seq_conflict``, raw bytes), and it raises ``device_cloned``.
Only a true repeat (the same content: a QoS 1 redelivery) changes nothing.
"""

from __future__ import annotations

from datetime import timedelta

import orjson
import sqlalchemy as sa

from service.adapters.db import schema as t
from simulators.walk import offset
from tests.integration.test_pipeline import T0, alerts_out, make_pipeline, msg, walk_in
from tests.support import builders

FAR = offset(*builders.HOME, 5000, 0)


def kinds(result) -> list[tuple[str, str, bool]]:  # type: ignore[no-untyped-def]
    out = []
    for o in alerts_out(result):
        m = orjson.loads(o.payload)
        if o.topic.endswith("police-west/alerts") or m["kind"] == "device_cloned":
            out.append((m["kind"], m["event"], m["retroactive"]))
    return sorted(set(out))


def squat(seqs: range, at_s: float = -5) -> list:
    """One backfill array of far-away reports under the seqs the real tracker will use."""
    body = [builders.location(s, *FAR, ts=T0 + timedelta(seconds=at_s)) for s in seqs]
    return [msg("trk-001", "location", body, at=T0 + timedelta(seconds=at_s))]  # type: ignore[arg-type]


def test_a_squatter_cannot_hide_his_real_walk_into_her_home(engine) -> None:  # type: ignore[no-untyped-def]
    pipeline = make_pipeline(engine)
    first = pipeline.process(squat(range(1, 31)))
    assert first.accepted == 30 and kinds(first) == []
    real = pipeline.process(walk_in())  # seqs 1..5, the squatted ones, with his real positions
    assert ("zone_breach", "raised", False) in kinds(real)
    assert ("device_cloned", "raised", False) in kinds(real)
    assert real.rejected == {"seq_conflict": 5} and real.duplicates == 0
    with engine.connect() as conn:
        evidence = conn.execute(sa.select(t.rejected_messages.c.reason, t.rejected_messages.c.device_id,
                                          t.rejected_messages.c.payload, t.rejected_messages.c.topic)).all()
    assert len(evidence) == 5 and {(r.reason, r.device_id, r.topic) for r in evidence} == {
        ("seq_conflict", "trk-001", "stayaway/v1/devices/trk-001/location")}
    sent = {i.payload for i in walk_in()}
    assert {bytes(r.payload) for r in evidence} == sent  # his real reports, byte for byte


def test_a_true_repeat_still_changes_nothing(engine) -> None:  # type: ignore[no-untyped-def]
    pipeline = make_pipeline(engine)
    pipeline.process(walk_in())
    again = pipeline.process(walk_in())
    assert again.accepted == 0 and again.duplicates == 5 and not again.rejected and alerts_out(again) == []


def test_two_reports_with_one_seq_in_one_batch_are_both_checked(engine) -> None:  # type: ignore[no-untyped-def]
    pipeline = make_pipeline(engine)
    inside = offset(*builders.HOME, 100, 0)
    batch = [msg("trk-001", "location", builders.location(7, *FAR, ts=T0)),
             msg("trk-001", "location", builders.location(7, *inside, ts=T0 + timedelta(seconds=1)))]
    result = pipeline.process(batch)
    assert result.accepted == 1 and result.rejected == {"seq_conflict": 1}
    assert ("zone_breach", "raised", False) in kinds(result) and ("device_cloned", "raised", False) in kinds(result)


def test_a_squatted_status_seq_cannot_hide_a_strap_opened(engine) -> None:  # type: ignore[no-untyped-def]
    pipeline = make_pipeline(engine)
    pipeline.process([msg("trk-001", "status", {"seq": 9, "ts": "2026-11-21T07:59:00Z", "strap": "closed"},
                          at=T0 - timedelta(seconds=60))])
    result = pipeline.process([msg("trk-001", "status", {"seq": 9, "ts": "2026-11-21T08:00:00Z", "strap": "open"})])
    got = {(orjson.loads(o.payload)["kind"], orjson.loads(o.payload)["event"]) for o in alerts_out(result)}
    assert {("strap_tamper", "raised"), ("device_cloned", "raised")} <= got
    assert result.rejected == {"seq_conflict": 1}


def test_a_squatted_panic_seq_cannot_hide_her_press(engine) -> None:  # type: ignore[no-untyped-def]
    pipeline = make_pipeline(engine)
    pipeline.process([msg("phone-001", "panic", {"seq": 3, "ts": "2026-11-21T07:50:00Z", "silent": True},
                          at=T0 - timedelta(minutes=10))])
    acked = pipeline.process([msg("phone-001", "panic", {"seq": 3, "ts": "2026-11-21T07:50:00Z", "silent": True},
                                  at=T0 - timedelta(minutes=10))])
    assert acked.accepted == 0 and acked.duplicates == 1  # the same press again: a redelivery
    pressed = pipeline.process([msg("phone-001", "panic", {"seq": 3, "ts": "2026-11-21T08:00:00Z"})])
    assert pressed.accepted == 1
    assert any(orjson.loads(o.payload)["kind"] == "panic" for o in alerts_out(pressed))  # she is heard
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.panic_presses.c.seq, t.panic_presses.c.flags)).all()
    assert sorted((r.seq is None, "seq_conflict" in (r.flags or "")) for r in rows) == [(False, False), (True, True)]
