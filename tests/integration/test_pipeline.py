"""The ingest pipeline's unit of work against a real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import sqlalchemy as sa

from geofence import FrameCache
from service.adapters.db import schema as t
from service.domain.directory import Directory
from service.domain.monitoring import Monitor
from service.importing import import_agencies, import_orders
from service.pipeline import Pipeline
from service.state import rebuild
from service.wire import Inbound
from simulators.walk import offset
from tests.support import builders

T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


class Ids:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> str:
        self.n += 1
        return f"alert-{self.n}"


ZONES_ONLY = builders.ZONES_ONLY


def alerts_out(result) -> list:  # type: ignore[no-untyped-def]
    """The batch's outbox rows for agencies (pursuit-mode commands to devices left out)."""
    return [o for o in result.outbox if "/agencies/" in o.topic]


def make_pipeline(engine, **order) -> Pipeline:  # type: ignore[no-untyped-def]
    import_agencies(engine, builders.AGENCIES, lambda: T0)
    import_orders(engine, [(builders.order(**(order or ZONES_ONLY)), "test")], lambda: T0)
    monitor = Monitor(FrameCache(), Directory([]), Ids())
    with engine.begin() as conn:
        rebuild(monitor, conn)
    return Pipeline(engine, monitor, lambda: T0 + timedelta(hours=1), 256 * 1024)


def msg(device: str, kind: str, body: dict, at: datetime | None = None) -> Inbound:
    """Received when the fix was taken, unless ``at`` says otherwise."""
    received = at or (datetime.fromisoformat(body["ts"]) if "ts" in body else T0)
    return Inbound(f"stayaway/v1/devices/{device}/{kind}", orjson.dumps(body), received)


def walk_in(start_seq: int = 1) -> list[Inbound]:
    points = [offset(*builders.HOME, north, 0) for north in (900, 500, 320, 250, 120)]
    return [msg("trk-001", "location", builders.location(start_seq + i, lat, lon, ts=T0 + timedelta(seconds=10 * i)))
            for i, (lat, lon) in enumerate(points)]


def test_breach_writes_alert_log_and_outbox_for_police_and_court(engine) -> None:
    pipeline = make_pipeline(engine)
    result = pipeline.process(walk_in())
    assert result.accepted == 5 and result.duplicates == 0 and not result.rejected
    assert sorted(o.topic for o in alerts_out(result)) == [
        "stayaway/v1/agencies/court-xinjin/alerts", "stayaway/v1/agencies/police-west/alerts"]
    message = orjson.loads(alerts_out(result)[0].payload)
    assert (message["kind"], message["event"], message["status"], message["zone"]["zone_id"]) == (
        "zone_breach", "raised", "open", "home")
    assert "victim" not in message
    with engine.connect() as conn:
        log = conn.execute(sa.select(t.alert_log.c.event, t.alert_log.c.actor)).all()
        membership = conn.execute(sa.select(t.zone_membership.c.zone_id, t.zone_membership.c.inside)).all()
    assert [tuple(r) for r in log] == [("raised", "system")]
    assert [tuple(r) for r in membership] == [("home", True)]


def test_repeats_change_nothing_and_bad_input_is_kept(engine) -> None:
    pipeline = make_pipeline(engine)
    batch = walk_in()
    pipeline.process(batch)
    garbage = [
        Inbound("stayaway/v1/devices/trk-001/location", b"{not json", T0),
        msg("trk-999", "location", builders.location(1, 30.0, 103.0)),
        msg("trk-001", "panic", {"seq": 1, "ts": builders.rfc3339(T0)}),
    ]
    result = pipeline.process(batch + garbage)
    assert result.accepted == 0 and result.duplicates == 5 and not result.outbox
    assert dict(result.rejected) == {"invalid_json": 1, "unknown_device": 1, "device_role": 1}
    with engine.connect() as conn:
        reasons = sorted(r for (r,) in conn.execute(sa.select(t.rejected_messages.c.reason)))
        reports = conn.execute(sa.select(sa.func.count()).select_from(t.location_reports)).scalar()
    assert reasons == ["device_role", "invalid_json", "unknown_device"] and reports == 5


def test_state_rebuilt_from_the_database_does_not_reraise_an_open_episode(engine) -> None:
    first = make_pipeline(engine).process(walk_in())
    alert_id = orjson.loads(alerts_out(first)[0].payload)["alert_id"]
    monitor = Monitor(FrameCache(), Directory([]), Ids())
    with engine.begin() as conn:
        rebuild(monitor, conn)
    again = Pipeline(engine, monitor, lambda: T0 + timedelta(hours=2), 256 * 1024)
    inside = offset(*builders.HOME, 100, 0)
    result = again.process([msg("trk-001", "location", builders.location(
        50 + i, *inside, ts=T0 + timedelta(minutes=5, seconds=40 * i))) for i in range(2)])
    messages = [orjson.loads(o.payload) for o in alerts_out(result)]
    # two reports 40 s apart: two throttled updates of the same episode, each to police and court
    assert [(m["alert_id"], m["event"], m["event_seq"]) for m in messages] == [
        (alert_id, "updated", 2), (alert_id, "updated", 2), (alert_id, "updated", 3), (alert_id, "updated", 3)]


def test_a_future_dated_fix_does_not_hide_the_next_reports(engine) -> None:
    pipeline = make_pipeline(engine)
    far = offset(*builders.HOME, 2000, 0)
    ahead = builders.location(1, *far, ts=T0 + timedelta(days=1))  # a tracker clock a day ahead
    pipeline.process([msg("trk-001", "location", ahead, at=T0)])
    inside = builders.location(2, *offset(*builders.HOME, 100, 0), ts=T0 + timedelta(seconds=30))
    result = pipeline.process([msg("trk-001", "location", inside)])
    assert result.late == 0
    assert [orjson.loads(o.payload)["event"] for o in alerts_out(result)] == ["raised", "raised"]


def test_removing_a_zone_during_its_breach_ends_the_episode(engine) -> None:
    pipeline = make_pipeline(engine)
    first = pipeline.process(walk_in())
    alert_id = orjson.loads(alerts_out(first)[0].payload)["alert_id"]
    without_home = builders.order(**ZONES_ONLY)
    without_home["zones"]["features"] = without_home["zones"]["features"][1:]
    import_orders(engine, [(without_home, "modified by the court")], lambda: T0 + timedelta(minutes=1))
    with engine.begin() as conn:
        rebuild(pipeline.monitor, conn, ["PSO-2026-0001"], agencies=False)
    later = builders.location(9, *offset(*builders.HOME, 100, 0), ts=T0 + timedelta(minutes=2))
    result = pipeline.process([msg("trk-001", "location", later)])
    messages = [orjson.loads(o.payload) for o in alerts_out(result)]
    assert result.rejected == {} and [(m["alert_id"], m["condition"]) for m in messages] == [
        (alert_id, "ended"), (alert_id, "ended")]


def test_import_stores_and_returns_the_set_up_warnings(engine) -> None:
    import_agencies(engine, builders.AGENCIES, lambda: T0)
    body = builders.order(min_distance_m=200)
    body["respondent"]["home"] = [builders.HOME[1], builders.HOME[0]]
    [done] = import_orders(engine, [(body, "test")], lambda: T0)
    assert sorted(w.code for w in done.warnings) == ["min_distance_below_350m", "respondent_home_in_zone"]
    with engine.connect() as conn:
        stored = conn.execute(sa.select(t.orders.c.warnings)).scalar_one()
    assert sorted(w["code"] for w in stored) == ["min_distance_below_350m", "respondent_home_in_zone"]
    assert all(str(builders.HOME[0])[:6] not in w["message"] for w in stored)  # no coordinates in a message


def status_msg(seq: int, at: datetime, **fields: object) -> Inbound:
    return msg("trk-001", "status", {"seq": seq, "ts": builders.rfc3339(at), **fields})


def test_a_flapping_strap_in_one_batch_is_one_alert_with_few_log_records(engine) -> None:
    pipeline = make_pipeline(engine)
    storm = [status_msg(i, T0 + timedelta(milliseconds=10 * i), strap="open" if i % 2 == 0 else "closed")
             for i in range(1, 1001)]
    result = pipeline.process(storm)
    assert result.accepted == 1000
    with engine.connect() as conn:
        alerts = conn.execute(sa.select(t.alerts.c.alert_id, t.alerts.c.kind, t.alerts.c.event_seq,
                                        t.alerts.c.condition_active)).all()
        log = conn.execute(sa.select(t.alert_log.c.event, t.alert_log.c.event_seq).order_by(t.alert_log.c.id)).all()
        stored = conn.execute(sa.select(sa.func.count()).select_from(t.status_reports)).scalar_one()
    assert [(a.kind, a.event_seq, a.condition_active) for a in alerts] == [("strap_tamper", 2, False)]
    assert [tuple(r) for r in log] == [("raised", 1), ("updated", 2)]  # raised, first end; the rest held back
    assert stored == 1000  # every status is kept as evidence


def test_an_ended_condition_is_closed_by_the_system_after_a_restart(engine) -> None:
    now = [T0]
    pipeline = make_pipeline(engine)
    pipeline.clock = lambda: now[0]
    pipeline.process([status_msg(1, T0, batt=12)])
    now[0] = T0 + timedelta(seconds=10)
    pipeline.process([status_msg(2, now[0], charging=True)])
    restarted = Monitor(FrameCache(), Directory([]), Ids())
    with engine.begin() as conn:
        rebuild(restarted, conn)
    pipeline.monitor = restarted
    now[0] = T0 + timedelta(seconds=69)
    assert [o for o in pipeline.tick() if b"battery_low" in o.payload] == []  # ended 59 s ago
    now[0] = T0 + timedelta(seconds=71)
    closed = [orjson.loads(o.payload) for o in pipeline.tick() if b"battery_low" in o.payload]
    assert {(m["event"], m["status"]) for m in closed} == {("resolved", "resolved")}


def test_the_court_is_told_once_that_an_order_is_unserved_24_hours_after_issue(engine) -> None:
    pipeline = make_pipeline(engine)  # issued 2026-11-20T09:00Z; the pipeline's clock is 24 h later
    [notice] = [o for o in pipeline.tick() if o.topic.endswith("/notices")]
    body = orjson.loads(notice.payload)
    assert notice.topic == "stayaway/v1/agencies/court-xinjin/notices"
    assert (body["kind"], body["order_id"], body["unserved"]) == ("service_overdue", "PSO-2026-0001",
                                                                  ["respondent", "victim", "police", "committee"])
    restarted = Monitor(FrameCache(), Directory([]), Ids())
    with engine.begin() as conn:
        rebuild(restarted, conn)
    pipeline.monitor = restarted
    assert [o for o in pipeline.tick() if o.topic.endswith("/notices")] == []  # once, across a restart too
    with engine.connect() as conn:
        events = conn.execute(sa.select(t.order_events.c.event).where(t.order_events.c.event == "service_overdue")).all()
    assert len(events) == 1


def test_an_expired_order_is_announced_kept_for_her_panic_through_its_grace_and_then_dropped(engine) -> None:
    from service.adapters.db import config_repo

    pipeline = make_pipeline(engine, **ZONES_ONLY, expires_at="2026-11-21T08:30:00Z")
    now = T0 + timedelta(hours=1)  # the pipeline's clock: half an hour after the expiry
    out = pipeline.tick()
    with engine.connect() as conn:
        status, ended_at, grace_until = conn.execute(
            sa.select(t.orders.c.status, t.orders.c.ended_at, t.orders.c.grace_until)).one()
        events = [e for (e,) in conn.execute(sa.select(t.order_events.c.event).order_by(t.order_events.c.id))]
        assert config_repo.load_orders(conn) == []
    assert status == "expired" and ended_at == datetime(2026, 11, 21, 8, 30, tzinfo=UTC)
    assert grace_until == now + timedelta(hours=72)  # from when the end was found, not from the expiry
    assert "expired" in events
    # announced: to the court and the police of her home (agencies' notices), and to her phone
    told = {o.topic: orjson.loads(o.payload) for o in out if o.topic.endswith("/notices")}
    assert {tp: b["kind"] for tp, b in told.items() if "/agencies/" in tp} == {
        "stayaway/v1/agencies/court-xinjin/notices": "order_ended",
        "stayaway/v1/agencies/police-west/notices": "order_ended"}
    phone = told["stayaway/v1/devices/phone-001/notices"]
    assert (phone["topic"], phone["locale"]) == ("order_ended", "zh") and "110" in phone["text"]
    # a restart in the grace keeps it: her panic is raised and routed to police, marked after the end
    restarted = Monitor(FrameCache(), Directory([]), Ids())
    with engine.begin() as conn:
        rebuild(restarted, conn, now=now)
    pipeline.monitor = restarted
    assert restarted.orders["PSO-2026-0001"].ending.status == "expired"
    result = pipeline.process([msg("phone-001", "panic", {"seq": 1, "ts": builders.rfc3339(now)}, at=now)])
    [raised] = [orjson.loads(o.payload) for o in alerts_out(result) if "police-west" in o.topic]
    assert (raised["kind"], raised["event"], raised["after_end"], raised["order_status"]) == (
        "panic", "raised", True, "expired")
    # his tracker's reports are stored, and raise nothing
    inside = pipeline.process([msg("trk-001", "location", builders.location(1, *builders.HOME, ts=now), at=now)])
    assert inside.accepted == 1 and alerts_out(inside) == []
    # after the grace: dropped, its devices unknown again
    pipeline.clock = lambda: now + timedelta(hours=72)
    pipeline.tick()
    assert restarted.orders == {}
    later = now + timedelta(hours=72, seconds=1)
    gone = pipeline.process([msg("phone-001", "panic", {"seq": 2, "ts": builders.rfc3339(later)}, at=later)])
    assert gone.rejected == {"unknown_device": 1}


def test_the_monitor_is_rebuilt_with_the_order_s_earlier_versions_and_when_each_took_effect(engine) -> None:
    pipeline = make_pipeline(engine)  # version 1, imported at T0
    later = T0 + timedelta(hours=5)
    changed = builders.order(**{**ZONES_ONLY, "exit_margin_m": 80})
    import_orders(engine, [(changed, "amended.json")], lambda: later)
    with engine.begin() as conn:
        rebuild(pipeline.monitor, conn)
    order = pipeline.monitor.orders["PSO-2026-0001"]
    assert order.effective_from == later and [at for at, _, _ in order.versions] == [T0]
    assert order.versions[0][1].exit_margin_m is None and order.spec.exit_margin_m == 80
