"""Protection never stops silently, where the court's steps and imports change orders (issue 13, items 2
and 3): every end and change is announced in the step's own transaction, a running serve picks an end
up (its version does not move), an order no police agency answers for is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
import sqlalchemy as sa

from alerts import JurisdictionIndex
from geofence import FrameCache
from service.adapters.db import agencies_repo, standing_repo
from service.adapters.db import schema as t
from service.config_watch import ConfigWatcher
from service.domain import law
from service.domain.directory import Directory
from service.domain.monitoring import Monitor
from service.domain.responsibility import NoPoliceAgency
from service.errors import InvalidInput
from service.importing import import_agencies, import_orders
from service.order_admin import OrderAdmin
from service.pipeline import Pipeline
from service.state import rebuild
from service.wire import Inbound
from tests.support import builders

T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
ORDER = "PSO-2026-0001"
COURT = law.Actor("judge-1", "court")
FAR = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [104.6, 31.2]},  # outside both stations
       "properties": {"zone_id": "home", "kind": "home", "name": "Her new home", "radius_m": 300}}


def notices(engine) -> dict[str, list[dict]]:  # type: ignore[no-untyped-def]
    """topic -> the notice bodies in the outbox, in order."""
    out: dict[str, list[dict]] = {}
    with engine.connect() as conn:
        for topic, payload in conn.execute(sa.select(t.outbox.c.topic, t.outbox.c.payload)
                                           .where(t.outbox.c.topic.like("%/notices")).order_by(t.outbox.c.id)):
            out.setdefault(topic, []).append(orjson.loads(payload))
    return out


@pytest.fixture
def loaded(engine):  # type: ignore[no-untyped-def]
    import_agencies(engine, builders.AGENCIES, lambda: T0)
    import_orders(engine, [(builders.order(**builders.ZONES_ONLY), "order.json")], lambda: T0)
    return engine


def test_a_cancellation_is_announced_to_court_police_and_her_phone_and_keeps_her_panic_for_its_grace(loaded) -> None:  # type: ignore[no-untyped-def]
    engine = loaded
    now = T0 + timedelta(hours=3)
    OrderAdmin(engine, lambda: now).cancel(ORDER, COURT, "the parties reconciled; the court set it aside",
                                           decided_at=T0 + timedelta(hours=2))
    told = notices(engine)
    for agency in ("court-xinjin", "police-west"):
        [body] = told[f"stayaway/v1/agencies/{agency}/notices"]
        assert (body["kind"], body["status"], body["ended_at"]) == ("order_ended", "cancelled", "2026-11-21T10:00:00.000Z")
        assert body["reason"].startswith("the parties reconciled") and body["inform"] == ["respondent"]
    [phone] = told["stayaway/v1/devices/phone-001/notices"]
    assert (phone["topic"], phone["kind"], phone["alert_id"]) == ("order_ended", "info", None)
    assert "法院撤销了保护令" in phone["text"] and "110" in phone["text"]
    assert "stayaway/v1/devices/trk-001/notices" not in told  # nothing ever reaches his device
    with engine.connect() as conn:
        grace = conn.execute(sa.select(t.orders.c.grace_until)).scalar_one()
    assert grace == now + timedelta(hours=72)  # entered an hour after the decision: the grace counts from entry
    # a serve (re)built now keeps the order for her panic only
    monitor = Monitor(FrameCache(), Directory([]), iter(f"a-{i}" for i in range(9)).__next__)
    with engine.begin() as conn:
        rebuild(monitor, conn, now=now)
    assert monitor.orders[ORDER].ending.status == "cancelled"
    pipeline = Pipeline(engine, monitor, lambda: now, 1 << 18)
    press = {"seq": 1, "ts": builders.rfc3339(now)}
    result = pipeline.process([Inbound("stayaway/v1/devices/phone-001/panic", orjson.dumps(press), now)])
    police = [orjson.loads(o.payload) for o in result.outbox if o.topic == "stayaway/v1/agencies/police-west/alerts"]
    assert [(m["kind"], m["after_end"], m["order_status"]) for m in police] == [("panic", True, "cancelled")]


def test_a_running_serve_picks_up_an_end_though_the_version_stays(loaded) -> None:  # type: ignore[no-untyped-def]
    engine = loaded
    calls: list[tuple[list[str], bool]] = []
    watcher = ConfigWatcher(engine, lambda f: f(), lambda ids, agencies: calls.append((ids, agencies)), 3600)
    with engine.connect() as conn:
        watcher._versions, watcher._stamp = watcher._all_versions(conn), watcher._stamps(conn)
    OrderAdmin(engine, lambda: T0 + timedelta(hours=1)).cancel(ORDER, COURT, "set aside")
    watcher.poll()
    assert calls == [([ORDER], False)]


def test_a_new_version_is_told_to_her_phone_and_the_police(loaded) -> None:  # type: ignore[no-untyped-def]
    engine = loaded
    body = builders.order(**{**builders.ZONES_ONLY, "pre_alert_m": 200})
    OrderAdmin(engine, lambda: T0 + timedelta(hours=1)).modify(ORDER, body, COURT, "a warning ring added")
    told = notices(engine)
    [phone] = told["stayaway/v1/devices/phone-001/notices"]
    assert phone["topic"] == "order_change" and phone["notice_id"] == f"{ORDER}:version:2"
    [police] = told["stayaway/v1/agencies/police-west/notices"]
    assert (police["kind"], police["version"]) == ("order_changed", 2)


def test_an_order_no_police_agency_answers_for_is_refused_naming_what_to_do(loaded) -> None:  # type: ignore[no-untyped-def]
    engine = loaded
    far = builders.order(order_id="PSO-FAR-1", zones={"type": "FeatureCollection", "features": [FAR]},
                         respondent={"person_id": "R-9", "device_id": "trk-009", "report_interval_s": 30},
                         victim={"person_id": "V-9", "device_id": "phone-009", "report_interval_s": 60})
    with pytest.raises(InvalidInput) as refused:
        import_orders(engine, [(far, "far.json")], lambda: T0)
    assert "no police agency answers for this order" in str(refused.value)
    with pytest.raises(NoPoliceAgency):
        OrderAdmin(engine, lambda: T0).create(far, COURT)
    with engine.connect() as conn:
        assert standing_repo.load_standing(conn, "PSO-FAR-1") is None
    # naming the agency that answers for it: accepted, with a warning naming the zone outside every area
    import_orders(engine, [({**far, "police_agency_id": "police-east"}, "far.json")], lambda: T0)
    with engine.connect() as conn:
        warnings = conn.execute(sa.select(t.orders.c.warnings).where(t.orders.c.order_id == "PSO-FAR-1")).scalar_one()
    assert [w["code"] for w in warnings] == ["zone_outside_jurisdictions"] and "home" in warnings[0]["message"]


def test_an_agencies_file_that_would_leave_an_order_without_police_is_refused_naming_it(loaded) -> None:  # type: ignore[no-untyped-def]
    """Issue 13 review: re-importing the agencies with her home's station turned into a support agency left
    the order answered for by the court alone, silently."""
    import copy

    engine = loaded
    home_only = builders.order(**builders.ZONES_ONLY)
    home_only["zones"]["features"] = home_only["zones"]["features"][:1]  # her home, in the west station's area
    OrderAdmin(engine, lambda: T0).modify(ORDER, home_only, COURT, "the workplace zone lifted")
    changed = copy.deepcopy(builders.AGENCIES)
    west = changed["features"][0]
    west["properties"]["kind"], west["geometry"] = "support", None
    with pytest.raises(InvalidInput) as refused:
        import_agencies(engine, changed, lambda: T0 + timedelta(hours=1))
    assert ORDER in str(refused.value) and "no police agency answering" in str(refused.value)
    with engine.connect() as conn:
        assert {a.agency_id: a.kind for a in agencies_repo.load_agencies(conn)}["police-west"] == "police"  # unchanged
    # an order naming its police agency: that agency may not stop being police under it either
    OrderAdmin(engine, lambda: T0).modify(ORDER, {**home_only, "police_agency_id": "police-east"}, COURT,
                                          "east answers for it")
    east_gone = copy.deepcopy(builders.AGENCIES)
    east_gone["features"][1]["properties"]["kind"], east_gone["features"][1]["geometry"] = "support", None
    with pytest.raises(InvalidInput):
        import_agencies(engine, east_gone, lambda: T0 + timedelta(hours=2))


def test_a_running_order_whose_named_police_agency_is_gone_still_reaches_her_home_s_police() -> None:
    from service.domain.orders import parse_agencies, parse_order
    from service.domain.responsibility import UnknownPoliceAgency, responsible_police

    agencies = parse_agencies(builders.AGENCIES)
    index, kinds = JurisdictionIndex(agencies), {a.agency_id: a.kind for a in agencies}
    spec = parse_order(builders.order(police_agency_id="police-gone"))
    with pytest.raises(UnknownPoliceAgency):
        responsible_police(spec, index, kinds)  # at issue: refused
    assert responsible_police(spec, index, kinds, strict=False) == "police-west"  # running: her home's station


def test_an_expiry_after_a_restart_is_told_to_every_agency_its_alerts_reached_resolved_ones_too(engine) -> None:  # type: ignore[no-untyped-def]
    """Issue 13 review: after a restart the monitor knew only the open alerts' recipients."""
    import_agencies(engine, builders.AGENCIES, lambda: T0)
    import_orders(engine, [(builders.order(**builders.ZONES_ONLY, expires_at="2026-11-21T10:00:00Z"), "o.json")],
                  lambda: T0)
    monitor = Monitor(FrameCache(), Directory([]), iter(f"a-{i}" for i in range(99)).__next__)
    with engine.begin() as conn:
        rebuild(monitor, conn, now=T0)
    pipeline = Pipeline(engine, monitor, lambda: T0, 1 << 18)
    at_work = T0 + timedelta(minutes=1)  # her workplace lies in the east station's area
    fix = builders.location(1, 30.4415, 103.882, ts=at_work)
    pipeline.process([Inbound("stayaway/v1/devices/trk-001/location", orjson.dumps(fix), at_work)])
    with engine.begin() as conn:  # the east station closed it
        conn.execute(sa.update(t.alerts).values(status="resolved", resolved_at=at_work, resolved_by="east-1"))
    restarted = Monitor(FrameCache(), Directory([]), iter(f"b-{i}" for i in range(99)).__next__)
    with engine.begin() as conn:
        rebuild(restarted, conn, now=T0 + timedelta(hours=2))
    pipeline.monitor, pipeline.clock = restarted, lambda: T0 + timedelta(hours=2)
    pipeline.tick()
    told = {tp for tp, bodies in notices(engine).items() for b in bodies if b.get("kind") == "order_ended"}
    assert told == {f"stayaway/v1/agencies/{a}/notices" for a in ("court-xinjin", "police-west", "police-east")}
