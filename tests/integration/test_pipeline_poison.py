"""Poison messages against a real database (issue 12, finding 4): a message no decoder can use is one
stored rejection in a batch that goes on; it never fails the batch, never costs a state reload, and never
holds up another order's breach; a panic is raised even when its time, or the decoder, fails."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

import orjson
import sqlalchemy as sa

from geofence import FrameCache
from service.adapters.db import schema as t
from service.domain.directory import Directory
from service.domain.monitoring import Monitor
from service.importing import import_agencies, import_orders
from service.ingest import IngestLoop
from service.metrics import Metrics
from service.pipeline import Pipeline
from service.state import rebuild
from service.wire import Inbound
from service.wire.decode import Decoded
from simulators.walk import offset
from tests.integration.test_pipeline import Ids
from tests.support import builders

T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
NOW = T0 + timedelta(minutes=1)
LAT_TEXT, LON_TEXT = "30.4310123", "103.8615456"  # the poison's coordinates: never in a log
CALENDAR_ENDS = ("0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01")
OWNTRACKS_TOPIC = "owntracks/alice/phone"



def setup(engine, cls: type[Pipeline] = Pipeline) -> Pipeline:  # type: ignore[no-untyped-def]
    """Order 1 (trk-001, phone-001, whose phone also speaks OwnTracks) and order 2 (trk-002, phone-002)."""
    first = builders.order(**builders.ZONES_ONLY)
    first["victim"] = {**first["victim"], "owntracks_topic": OWNTRACKS_TOPIC}
    import_agencies(engine, builders.AGENCIES, lambda: T0)
    import_orders(engine, [(first, "test"), (builders.order_for(2, **builders.ZONES_ONLY), "test")], lambda: T0)
    monitor = Monitor(FrameCache(), Directory([]), Ids())
    with engine.begin() as conn:
        rebuild(monitor, conn)
    return cls(engine, monitor, lambda: NOW, 256 * 1024)


def inbound(device: str, kind: str, body: dict | bytes, received: datetime) -> Inbound:
    payload = body if isinstance(body, bytes) else orjson.dumps(body)
    return Inbound(f"stayaway/v1/devices/{device}/{kind}", payload, received)


def poison(n: int, received: datetime = T0) -> list[Inbound]:
    """``n`` messages dated at the ends of the calendar on order 1's respondent's own topics."""
    out = []
    for i in range(n):
        ts = CALENDAR_ENDS[i % 2]
        if i % 4 < 2:
            out.append(inbound("trk-001", "location", {"seq": 100 + i, "ts": ts, "lat": float(LAT_TEXT),
                                                        "lon": float(LON_TEXT), "acc": 5.0}, received))
        else:
            out.append(inbound("trk-001", "status", {"seq": 100 + i, "ts": ts, "strap": "closed"}, received))
    return out


def breach_of_order_2(start: datetime) -> list[Inbound]:
    points = [offset(*builders.HOME, north, 0) for north in (900, 500, 120)]
    return [inbound("trk-002", "location", builders.location(1 + i, lat, lon, ts=start + timedelta(seconds=10 * i)),
                    start + timedelta(seconds=10 * i)) for i, (lat, lon) in enumerate(points)]


def agency_messages(result) -> list[dict]:  # type: ignore[no-untyped-def]
    return [orjson.loads(o.payload) for o in result.outbox if "/agencies/" in o.topic]


def rejected_rows(engine) -> list[tuple]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(
            t.rejected_messages.c.reason, t.rejected_messages.c.field, t.rejected_messages.c.device_id,
            t.rejected_messages.c.payload).order_by(t.rejected_messages.c.id))]


def test_calendar_end_times_are_rejections_in_a_batch_that_goes_on(engine) -> None:
    pipeline = setup(engine)
    bad = poison(4)
    tst = Inbound(OWNTRACKS_TOPIC, orjson.dumps({"_type": "location", "lat": 30.4310123, "lon": 103.8615456,
                                                 "tst": 2**40}), T0)  # 2^40 s after 1970: year 36812
    pressed_at = T0 + timedelta(seconds=25)
    press = inbound("phone-001", "panic", {"seq": 1, "ts": CALENDAR_ENDS[0], "lat": 30.4310123,
                                           "lon": 103.8615456, "acc": 8.0}, pressed_at)
    result = pipeline.process([*bad, tst, press, *breach_of_order_2(T0)])
    assert dict(result.rejected) == {"ts_invalid": 4, "out_of_range": 1}
    assert result.accepted == 4  # the panic and order 2's three fixes
    raised = {(m["order_id"], m["kind"], m["agency_id"]): m for m in agency_messages(result) if m["event"] == "raised"}
    assert set(raised) == {("PSO-2026-0001", "panic", "police-west"), ("PSO-2026-0001", "panic", "court-xinjin"),
                           ("PSO-T-0002", "zone_breach", "police-west"), ("PSO-T-0002", "zone_breach", "court-xinjin")}
    panic = raised[("PSO-2026-0001", "panic", "police-west")]
    assert panic["occurred_at"] == builders.rfc3339(pressed_at)  # its receive time: the time it gave is no time
    assert rejected_rows(engine) == [("ts_invalid", "ts", "trk-001", i.payload) for i in bad] + [
        ("out_of_range", "tst", "phone-001", tst.payload)]


class BrokenDecoder(Pipeline):
    """The real pipeline with a v1 decoder that fails, as a bug would, on any payload holding "xyzzy", with
    an error text that quotes the payload."""

    def _device_topic(self, item: Inbound) -> Decoded:
        if b"xyzzy" in item.payload:
            raise ValueError(f"cannot read {item.payload.decode()}")
        return super()._device_topic(item)


def test_a_decoder_failure_is_one_internal_error_and_a_panic_is_raised_all_the_same(engine, caplog) -> None:
    pipeline = setup(engine, BrokenDecoder)
    fix = inbound("trk-001", "location", {"seq": 1, "ts": "2026-11-21T08:00:00Z", "lat": float(LAT_TEXT),
                                          "lon": float(LON_TEXT), "acc": 5.0, "note": "xyzzy"}, T0)
    pressed_at = T0 + timedelta(seconds=25)
    press = inbound("phone-001", "panic", {"seq": 1, "ts": "2026-11-21T08:00:20Z", "lat": float(LAT_TEXT),
                                           "lon": float(LON_TEXT), "acc": 8.0, "note": "xyzzy"}, pressed_at)
    with caplog.at_level(logging.INFO):
        result = pipeline.process([fix, press, *breach_of_order_2(T0)])
    assert dict(result.rejected) == {"internal_error": 2}
    raised = {(m["order_id"], m["kind"]) for m in agency_messages(result) if m["event"] == "raised"}
    assert raised == {("PSO-2026-0001", "panic"), ("PSO-T-0002", "zone_breach")}
    with engine.connect() as conn:
        [stored] = conn.execute(sa.select(t.panic_presses.c.device_id, t.panic_presses.c.device_ts,
                                          t.panic_presses.c.flags, t.panic_presses.c.silent,
                                          t.panic_presses.c.raw)).all()
    assert (stored.device_id, stored.flags, stored.silent, stored.raw) == ("phone-001", "decode_failed", True,
                                                                           press.payload)
    assert stored.device_ts.replace(tzinfo=UTC) == pressed_at  # at its receive time: nothing of it was read
    assert rejected_rows(engine) == [("internal_error", None, "trk-001", fix.payload),
                                     ("internal_error", None, "phone-001", press.payload)]
    assert "ValueError" in caplog.text and "_device_topic" in caplog.text
    assert LAT_TEXT not in caplog.text and LON_TEXT not in caplog.text and "xyzzy" not in caplog.text


def test_a_flood_of_calendar_end_times_never_fails_a_batch_or_reloads_the_state(engine) -> None:
    pipeline = setup(engine)
    acked: list[Inbound] = []
    outbox: list = []
    reloads: list[int] = []
    metrics = Metrics()
    loop = IngestLoop(pipeline, acked.extend, outbox.extend, lambda: reloads.append(1), metrics, max_batch=200,
                      retry_s=0.05, batch_budget_s=60.0)
    flood = poison(1000)
    for item in [*flood, *breach_of_order_2(T0)]:
        loop.submit(item)
    loop.start()
    deadline = time.monotonic() + 60
    while len(acked) < len(flood) + 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    loop.stop()
    counts = metrics.snapshot()
    assert len(acked) == 1003 and counts.get("rejected.ts_invalid") == 1000
    assert "batch_failures" not in counts and "rejected.internal_error" not in counts and reloads == []
    assert counts["batches"] == 6  # 5 x 200 and 3, none split
    messages = [orjson.loads(o.payload) for o in outbox if "/agencies/" in o.topic]
    assert [(m["order_id"], m["kind"], m["event"]) for m in messages] == [("PSO-T-0002", "zone_breach", "raised")] * 2
