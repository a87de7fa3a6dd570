"""A device and an OwnTracks topic belong to one holder at a time, across all courts (issue 12, finding 3).

Court Pidu's clerk, signed in, tries through the real API (and the import) to take over the victim's
phone and her OwnTracks topic, both held by court Xinjin's order: refused with one answer whatever the
reason, she stays invisible to court Pidu, and court Xinjin's order keeps its proximity checks (the real
pipeline, from wire messages). Releases, hand-overs, ends, a race and stored data from before: on SQLite
and PostgreSQL.
"""

from __future__ import annotations

import copy
import logging
import os
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pyotp
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from argon2 import PasswordHasher

from geofence import FrameCache
from service.adapters.db import config_repo, reports_repo, standing_repo
from service.adapters.db import schema as t
from service.adapters.db.engine import make_engine, migrate
from service.auth import Auth
from service.domain import law
from service.domain.directory import Directory
from service.domain.monitoring import Monitor
from service.domain.orders import parse_agencies, parse_order
from service.errors import InvalidInput
from service.importing import import_agencies, import_orders
from service.mqtt_credentials import generate
from service.order_admin import OrderAdmin
from service.pipeline import Pipeline
from service.state import rebuild
from service.web import WebDeps, create_app
from service.wire import Inbound, LocationReport
from simulators.walk import offset
from tests.support import builders
from tests.support.serve import STAYAWAY

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
A = "PSO-2026-0001"  # court Xinjin's order: respondent trk-001, victim phone-001 (V-1)
HER_TOPIC = "owntracks/her/phone"  # her phone runs the OwnTracks app too
HER = offset(*builders.HOME, 2000, 0)  # 2 km north of her home: no fixed zone near, only the moving one


def agencies() -> dict:
    body = copy.deepcopy(builders.AGENCIES)
    body["features"].append({"type": "Feature", "geometry": None,
                             "properties": {"agency_id": "court-pidu", "name": "Pidu court", "kind": "court"}})
    body["features"].append({"type": "Feature", "geometry": None,
                             "properties": {"agency_id": "court-pujiang", "name": "Pujiang court", "kind": "court"}})
    return body


def order_a() -> dict:
    body = builders.order()
    body["victim"] = {**body["victim"], "owntracks_topic": HER_TOPIC}
    return body


def pidu(n: int, **victim: object) -> dict:
    """A court Pidu order for its own respondent and victim (trk-{n}, phone-{n}), victim fields overridden."""
    body = builders.order_for(n, court="court-pidu") | {"order_id": f"PSO-PIDU-{n:04d}"}
    body["victim"] = {**body["victim"], **victim}
    return body


class Api:
    def __init__(self, app, headers: dict[str, dict[str, str]]) -> None:  # type: ignore[no-untyped-def]
        self.c, self.headers = app.test_client(), headers

    def post(self, who: str, path: str, body: object):  # type: ignore[no-untyped-def]
        return self.c.post(path, json=body, headers=self.headers[who])

    def get(self, who: str, path: str):  # type: ignore[no-untyped-def]
        return self.c.get(path, headers=self.headers[who])


@pytest.fixture
def world(engine):  # type: ignore[no-untyped-def]
    clock = {"now": NOW}
    import_agencies(engine, agencies(), lambda: NOW)
    import_orders(engine, [(order_a(), "a.json")], lambda: NOW)
    auth = Auth(engine, lambda: clock["now"], PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1))
    root = auth.create_account("root", "admin password 1", "admin", None)
    bearer = {
        "court": auth.create_token("xinjin-desk", "court", "court-xinjin"),
        "other_court": auth.create_token("pidu-desk", "court", "court-pidu"),
        "police": auth.create_token("west-desk", "police", "police-west"),
        "admin": auth.sign_in("root", "admin password 1", pyotp.TOTP(root.totp_secret).at(NOW), None),
    }
    reader = make_engine(engine.url.render_as_string(hide_password=False), writer=False)
    app = create_app(WebDeps(reader, lambda: {"ready": True, "counters": {}}, None, auth,
                             OrderAdmin(engine, lambda: clock["now"])), {"TESTING": True})
    yield Api(app, {k: {"Authorization": f"Bearer {v}"} for k, v in bearer.items()}), clock
    reader.dispose()


def monitor_of(engine) -> tuple[Monitor, Pipeline]:  # type: ignore[no-untyped-def]
    monitor = Monitor(FrameCache(), Directory([]), iter(f"alert-{i}" for i in range(1000)).__next__)
    with engine.begin() as conn:
        rebuild(monitor, conn, now=NOW)
    return monitor, Pipeline(engine, monitor, lambda: NOW + timedelta(minutes=5), 256 * 1024)


def her_fix_and_his_approach() -> list[Inbound]:
    """Her phone (through OwnTracks) 2 km north of her home; his tracker coming towards her."""
    t0 = NOW + timedelta(minutes=1)
    hers = Inbound(HER_TOPIC, orjson.dumps({"_type": "location", "lat": HER[0], "lon": HER[1], "acc": 8,
                                            "tst": int(t0.timestamp())}), t0)
    his = [offset(*HER, north, 0) for north in (1500, 900, 450, 200)]
    return [hers] + [Inbound("stayaway/v1/devices/trk-001/location", orjson.dumps(builders.location(
        i + 1, lat, lon, ts=t0 + timedelta(seconds=10 * (i + 1)))), t0 + timedelta(seconds=10 * (i + 1)))
        for i, (lat, lon) in enumerate(his)]


def her_coordinates_in(text: str) -> bool:
    return any(f"{v:.4f}" in text for v in HER)


def test_another_court_takes_neither_her_phone_nor_her_owntracks_topic(world, engine) -> None:  # type: ignore[no-untyped-def]
    api, _ = world
    her_phone = api.post("other_court", "/api/v1/orders", pidu(31, person_id="V-1", device_id="phone-001"))
    her_topic = api.post("other_court", "/api/v1/orders", pidu(32, owntracks_topic=HER_TOPIC))
    assert her_phone.status_code == 409 and her_phone.get_json()["error"]["code"] == "device_unavailable"
    assert her_phone.get_json()["error"]["field"] == "victim.device_id"
    assert her_topic.status_code == 409 and her_topic.get_json()["error"]["field"] == "victim.owntracks_topic"
    for r in (her_phone, her_topic):
        text = r.get_data(as_text=True)
        assert not any(s in text for s in (A, "court-xinjin", "V-1", "R-1", "phone-001", HER_TOPIC)), text
    # his tracker too (his track near her places gives them away), and through its own order's steps
    assert api.post("other_court", "/api/v1/orders", pidu(3) | {
        "respondent": {"person_id": "R-1", "device_id": "trk-001", "report_interval_s": 30}}).status_code == 409
    assert api.post("other_court", "/api/v1/orders", pidu(4)).status_code == 201  # its own devices: fine
    own = "PSO-PIDU-0004"
    by_replace = api.post("other_court", f"/api/v1/orders/{own}/replace-device",
                          {"role": "victim", "device_id": "phone-001", "reason": "new phone"})
    by_modify = api.post("other_court", f"/api/v1/orders/{own}/modify",
                         {"order": pidu(4, owntracks_topic=HER_TOPIC) | {"order_id": own}, "reason": "her app"})
    assert (by_replace.status_code, by_replace.data) == (her_phone.status_code, her_phone.data)
    assert (by_modify.status_code, by_modify.data) == (her_topic.status_code, her_topic.data)
    # court Pidu reads nothing of her: no order of its names her phone, hers is as unknown
    listed = [o["order_id"] for o in api.get("other_court", "/api/v1/orders").get_json()["orders"]]
    assert listed == [own]
    for order_id in (A, "PSO-PIDU-0031", "PSO-PIDU-0032"):
        r = api.post("other_court", f"/api/v1/orders/{order_id}/victim-location", {"reason": "welfare check, urgent"})
        assert r.status_code == 404 and not her_coordinates_in(r.get_data(as_text=True))
    with engine.connect() as conn:
        p = t.order_parties.c
        assert conn.execute(sa.select(p.order_id).where(p.device_id == "phone-001")).scalars().all() == [A]
    # court Xinjin's order keeps its moving zone: her OwnTracks fix and his approach raise proximity for it
    monitor, pipeline = monitor_of(engine)
    assert monitor.owntracks[HER_TOPIC] == "phone-001" and monitor.roles_of("phone-001") == [(A, "victim")]
    result = pipeline.process(her_fix_and_his_approach())
    raised = {(m["order_id"], m["kind"]) for m in (orjson.loads(o.payload) for o in result.outbox
                                                   if "/agencies/" in o.topic) if m.get("event") == "raised"}
    assert (A, "proximity") in raised, raised
    assert all(order_id == A for order_id, _ in raised)


def test_the_import_refuses_the_same(world, engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput) as refused:
        import_orders(engine, [(pidu(31, person_id="V-1", device_id="phone-001"), "b.json")], lambda: NOW)
    assert refused.value.field == "victim.device_id" and A not in str(refused.value)
    theirs = tmp_path / "pidu.json"
    theirs.write_bytes(orjson.dumps([pidu(5), pidu(32, owntracks_topic=HER_TOPIC)]))
    url = engine.url.render_as_string(hide_password=False)
    run = subprocess.run([*STAYAWAY, "orders", "import", str(theirs), "--db", url], check=False, capture_output=True,
                         text=True, timeout=120, env={**os.environ, "STAYAWAY_DATA_DIR": str(tmp_path)})
    assert run.returncode == 2, run.stderr
    assert "not available for this order" in run.stderr and "victim.owntracks_topic" in run.stderr
    assert A not in run.stderr + run.stdout and "court-xinjin" not in run.stderr + run.stdout
    with engine.connect() as conn:  # all or nothing: the file's other order is not in either
        assert conn.execute(sa.select(t.orders.c.order_id).order_by(t.orders.c.order_id)).scalars().all() == [A]


def test_the_refusal_reads_the_same_whatever_the_reason(world, engine) -> None:  # type: ignore[no-untyped-def]
    """Held by another court's order, an agency's id, a device its own order is handing over, another
    person's in its own court: byte for byte one answer, so it confirms nothing about another court."""
    api, _ = world
    assert api.post("other_court", "/api/v1/orders", pidu(6, owntracks_topic="owntracks/pidu/six")).status_code == 201
    assert api.post("other_court", "/api/v1/orders/PSO-PIDU-0006/replace-device",
                    {"role": "victim", "device_id": "phone-066", "reason": "screen broken"}).status_code == 200
    devices = {
        "another court's": "phone-001",
        "an agency's id": "police-west",
        "handing over (its own order's old phone)": "phone-006",
        "another person's in its own court": "phone-066",
        "his tracker, another court's": "trk-001",
    }
    answers = {why: api.post("other_court", "/api/v1/orders", pidu(7, device_id=device))
               for why, device in devices.items()}
    first = answers["another court's"]
    assert first.status_code == 409
    for why, r in answers.items():
        assert (r.status_code, r.data) == (first.status_code, first.data), why
    topics = {"another court's": HER_TOPIC, "another person's in its own court": "owntracks/pidu/six"}
    answers = {why: api.post("other_court", "/api/v1/orders", pidu(8, owntracks_topic=topic))
               for why, topic in topics.items()}
    assert answers["another court's"].status_code == 409
    assert answers["another court's"].data == answers["another person's in its own court"].data
    # the positive control: a device nobody holds, and one's own for the same person, are accepted
    assert api.post("other_court", "/api/v1/orders", pidu(9)).status_code == 201
    same_person = pidu(10, person_id="V-9", device_id="phone-009")
    same_person["respondent"] = {**same_person["respondent"], "person_id": "R-9", "device_id": "trk-009"}
    assert api.post("other_court", "/api/v1/orders", same_person).status_code == 201  # one court, one person


def test_the_court_releases_her_topic_and_only_then_another_court_may_name_it(world, engine) -> None:  # type: ignore[no-untyped-def]
    api, _ = world
    path = f"/api/v1/orders/{A}/release-device"
    release = {"role": "victim", "what": "owntracks_topic", "reason": "she uninstalled the app; court Pidu's case"}
    assert api.post("police", path, release).status_code == 403
    assert api.post("other_court", path, release).status_code == 404
    no_reason = api.post("court", path, {**release, "reason": ""})
    assert no_reason.status_code == 409 and no_reason.get_json()["error"]["code"] == "reason_required"
    his = api.post("court", path, {"role": "respondent", "what": "device", "reason": "broken"})
    assert his.status_code == 409 and his.get_json()["error"]["code"] == "device_required"
    assert api.post("other_court", "/api/v1/orders", pidu(32, owntracks_topic=HER_TOPIC)).status_code == 409
    done = api.post("court", path, release)
    assert done.status_code == 200 and done.get_json() == {"order_id": A, "version": 2, "role": "victim",
                                                           "what": "owntracks_topic"}
    history = api.get("court", f"/api/v1/orders/{A}/history").get_json()["history"]
    assert history[-1]["event"] == "device_released" and history[-1]["reason"] == release["reason"]
    assert history[-1]["details"] == {"role": "victim", "what": "owntracks_topic", "owntracks_topic": HER_TOPIC}
    assert api.post("other_court", "/api/v1/orders", pidu(32, owntracks_topic=HER_TOPIC)).status_code == 201
    with engine.connect() as conn:
        notices = [orjson.loads(p) for p in conn.execute(sa.select(t.outbox.c.payload).where(
            t.outbox.c.topic == "stayaway/v1/agencies/court-xinjin/notices")).scalars()]
        audit = conn.execute(sa.select(t.access_audit.c.actor, t.access_audit.c.outcome).where(
            t.access_audit.c.action == "release_device").order_by(t.access_audit.c.id)).all()
    assert [(n["kind"], n["order_id"], n["role"], n["what"], n["by_role"]) for n in notices] == [
        ("device_released", A, "victim", "owntracks_topic", "court")]
    assert [tuple(a) for a in audit] == [("west-desk", "denied"), ("pidu-desk", "denied"), ("xinjin-desk", "failed"),
                                         ("xinjin-desk", "failed"), ("xinjin-desk", "ok")]
    monitor, _ = monitor_of(engine)  # her phone still reports for her order; the topic is court Pidu's order's
    assert monitor.owntracks[HER_TOPIC] == "phone-032" and monitor.roles_of("phone-001") == [(A, "victim")]


def test_an_admin_releases_her_phone_and_the_order_goes_on_without_it_visibly(world, engine) -> None:  # type: ignore[no-untyped-def]
    api, _ = world
    released = api.post("admin", f"/api/v1/orders/{A}/release-device",
                        {"role": "victim", "what": "device", "reason": "both courts agreed: phone reissued"})
    assert released.status_code == 200
    assert api.post("admin", "/api/v1/orders/PSO-NOPE/release-device",
                    {"role": "victim", "what": "device", "reason": "x"}).status_code == 404
    detail = api.get("court", f"/api/v1/orders/{A}").get_json()
    assert {p["role"]: p["device_id"] for p in detail["parties"]} == {"respondent": "trk-001", "victim": None}
    history = api.get("court", f"/api/v1/orders/{A}/history").get_json()["history"]
    assert (history[-1]["event"], history[-1]["role"]) == ("device_released", "admin")
    with engine.connect() as conn:
        warnings = conn.execute(sa.select(t.orders.c.warnings).where(t.orders.c.order_id == A)).scalar()
        notice = conn.execute(sa.select(t.outbox.c.payload).where(
            t.outbox.c.topic == "stayaway/v1/agencies/court-xinjin/notices")).scalar()
    assert "no_victim_device" in {w["code"] for w in warnings}
    assert orjson.loads(notice)["by_role"] == "admin"
    monitor, _ = monitor_of(engine)  # released: no longer read for her order, nor her topic (it went with it)
    assert monitor.roles_of("phone-001") == [] and HER_TOPIC not in monitor.owntracks
    assert api.post("other_court", "/api/v1/orders", pidu(31, device_id="phone-001")).status_code == 201


def test_a_replaced_device_is_held_until_its_successor_reports_and_an_ended_order_frees_its_own(world, engine) -> None:  # type: ignore[no-untyped-def]
    api, _ = world
    assert api.post("court", f"/api/v1/orders/{A}/replace-device",
                    {"role": "victim", "device_id": "phone-009", "reason": "new phone"}).status_code == 200
    # the old phone still reports for her order until the new one's first message: nobody else's yet
    assert api.post("other_court", "/api/v1/orders", pidu(31, device_id="phone-001")).status_code == 409
    with engine.begin() as conn:
        reports_repo.insert_locations(conn, [LocationReport("phone-009", 1, NOW, *HER, 8.0, NOW, b"{}")], NOW)
    assert api.post("other_court", "/api/v1/orders", pidu(31, device_id="phone-001")).status_code == 201
    # cancelling frees its devices (the topic now stands for phone-009, and goes with the order)
    assert api.post("other_court", "/api/v1/orders", pidu(32, owntracks_topic=HER_TOPIC)).status_code == 409
    assert api.post("court", f"/api/v1/orders/{A}/cancel", {"reason": "set aside on appeal"}).status_code == 200
    assert api.post("other_court", "/api/v1/orders", pidu(32, owntracks_topic=HER_TOPIC)).status_code == 201
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.device_bindings.c.ident, t.device_bindings.c.court_id)).all()
    assert {r.court_id for r in rows} == {"court-pidu"}  # nothing of the cancelled order is held


def test_an_expired_order_frees_its_devices(world, engine) -> None:  # type: ignore[no-untyped-def]
    api, clock = world
    clock["now"] = datetime(2027, 5, 20, 9, 0, tzinfo=UTC)  # order A's expiry, before the clock marks it
    assert api.post("other_court", "/api/v1/orders", pidu(31, device_id="phone-001") | {
        "issued_at": "2027-05-20T09:00:00Z", "expires_at": "2027-11-20T09:00:00Z"}).status_code == 201
    with engine.begin() as conn:  # the orders' clock marks it (the pipeline's tick): nothing changes hands
        standing_repo.end_order(conn, A, "expired", clock["now"])
        holder = conn.execute(sa.select(t.device_bindings.c.court_id).where(
            t.device_bindings.c.ident == "phone-001")).scalar()
    assert holder == "court-pidu"


def test_a_temporary_order_s_devices_pass_to_its_ordinary_order(world, engine) -> None:  # type: ignore[no-untyped-def]
    api, _ = world
    temporary = pidu(11) | {"type": "temporary", "expires_at": None}
    assert api.post("other_court", "/api/v1/orders", temporary).status_code == 201
    ordinary = pidu(11) | {"order_id": "PSO-PIDU-1011", "supersedes": "PSO-PIDU-0011"}
    ordinary["victim"] = {**ordinary["victim"], "person_id": "V-11b"}  # her record corrected on the way
    assert api.post("other_court", "/api/v1/orders", ordinary).status_code == 201
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.device_bindings.c.ident, t.device_bindings.c.person_id)
                            .where(t.device_bindings.c.court_id == "court-pidu")).all()
    assert sorted(tuple(r) for r in rows) == [("phone-011", "V-11b"), ("trk-011", "R-11")]



def save_as_court_b(engine, spec, outcome: dict[str, object]) -> None:  # type: ignore[no-untyped-def]
    """Court B's save of ``spec`` in its own transaction (a racing thread): "saved", the refused field, or any
    other error's repr (an integrity error would be a race lost the wrong way)."""
    try:
        with engine.begin() as conn:
            config_repo.save_order(conn, spec, "b", NOW)
        outcome["pidu"] = "saved"
    except law.DeviceUnavailable as exc:
        outcome["pidu"] = exc.field
    except Exception as exc:  # noqa: BLE001 - anything else is a race lost the wrong way
        outcome["pidu"] = repr(exc)

def test_two_courts_naming_one_free_device_at_once_exactly_one_wins(engine) -> None:  # type: ignore[no-untyped-def]
    import_agencies(engine, agencies(), lambda: NOW)
    first = parse_order(builders.order_for(21))
    second = parse_order(pidu(22, device_id="phone-021"))
    outcome: dict[str, object] = {}

    conn = engine.connect()
    tx = conn.begin()
    config_repo.save_order(conn, first, "a", NOW)  # court Xinjin's, not yet committed
    racer = threading.Thread(target=save_as_court_b, args=(engine, second, outcome))
    racer.start()
    racer.join(0.5)
    assert racer.is_alive()  # it waits for the first: the binding's row is locked (SQLite: the write lock)
    tx.commit()
    conn.close()
    racer.join(30)
    assert outcome == {"pidu": "victim.device_id"}
    with engine.connect() as c:
        assert c.execute(sa.select(t.orders.c.order_id)).scalars().all() == ["PSO-T-0021"]


def test_stored_orders_sharing_a_device_survive_the_migration_flagged(db_url, caplog) -> None:  # type: ignore[no-untyped-def]
    """Before this revision court Pidu's order could name her phone: the migration keeps both, the first
    entered holds it, both histories say so, the admin's log names both; nobody else can take it."""
    engine = make_engine(db_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(migrate.__code__.co_filename).parent / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0014")
        for a in parse_agencies(agencies()):  # as revision 0014 stored them (later columns do not exist yet)
            conn.execute(sa.insert(t.agencies).values(agency_id=a.agency_id, name=a.name, kind=a.kind,
                                                      jurisdiction=a.jurisdiction, updated_at=NOW))
    bodies = [(A, "court-xinjin", order_a(), NOW),
              ("PSO-PIDU-0031", "court-pidu", pidu(31, person_id="V-1", device_id="phone-001",
                                                   owntracks_topic=HER_TOPIC), NOW + timedelta(hours=1))]
    with engine.begin() as conn:  # as the code before it stored them
        for order_id, court, body, at in bodies:
            conn.execute(sa.insert(t.orders).values(
                order_id=order_id, type="ordinary", court_id=court, issued_at=datetime(2026, 11, 20, 9, tzinfo=UTC),
                expires_at=datetime(2027, 11, 20, 9, tzinfo=UTC), status="active", version=1, body=body, updated_at=at))
            conn.execute(sa.insert(t.order_versions).values(order_id=order_id, version=1, body=body, source="old",
                                                            recorded_at=at))
            for role in ("respondent", "victim"):
                conn.execute(sa.insert(t.order_parties).values(
                    order_id=order_id, role=role, person_id=body[role]["person_id"],
                    device_id=body[role]["device_id"], report_interval_s=body[role]["report_interval_s"]))
    with caplog.at_level(logging.WARNING, logger="stayaway.migrations"):
        migrate(engine)  # does not fail
    assert any(A in r.getMessage() and "PSO-PIDU-0031" in r.getMessage() for r in caplog.records)
    with engine.connect() as conn:
        held = {(r.kind, r.ident): r.court_id for r in conn.execute(sa.select(t.device_bindings))}
        flagged = conn.execute(sa.select(t.order_events.c.order_id, t.order_events.c.details).where(
            t.order_events.c.event == "device_conflict")).all()
    assert held[("device", "phone-001")] == held[("owntracks", HER_TOPIC)] == "court-xinjin"
    assert held[("device", "trk-001")] == "court-xinjin" and held[("device", "trk-031")] == "court-pidu"
    assert sorted((o, d["what"]) for o, d in flagged) == [
        (A, "device"), (A, "owntracks_topic"), ("PSO-PIDU-0031", "device"), ("PSO-PIDU-0031", "owntracks_topic")]
    admin = OrderAdmin(engine, lambda: NOW + timedelta(days=1))
    court = law.Actor("pidu-desk", "court")
    admin.extend("PSO-PIDU-0031", datetime(2028, 5, 20, 9, tzinfo=UTC), court, "risk persists")  # it goes on
    with pytest.raises(InvalidInput) as nobody_else:  # but nobody else takes it
        import_orders(engine, [(builders.order_for(3, court="court-pujiang") | {"victim": {
            "person_id": "V-3", "device_id": "phone-001", "report_interval_s": 60}}, "c.json")], lambda: NOW)
    assert nobody_else.value.field == "victim.device_id"
    admin.cancel(A, law.Actor("xinjin-desk", "court"), "set aside")  # the holder's order ends: it passes on
    with engine.connect() as conn:
        assert conn.execute(sa.select(t.device_bindings.c.court_id).where(
            t.device_bindings.c.ident == "phone-001")).scalar() == "court-pidu"
    engine.dispose()


def test_a_file_never_moves_another_court_s_order_to_its_court(world, engine) -> None:  # type: ignore[no-untyped-def]
    """Re-importing court Xinjin's order id as court Pidu's would hand it her phone and topic with it."""
    with pytest.raises(InvalidInput) as refused:
        import_orders(engine, [(order_a() | {"court": "court-pidu"}, "b.json")], lambda: NOW)
    assert refused.value.field == "court"
    with engine.connect() as conn:
        assert conn.execute(sa.select(t.orders.c.court_id).where(t.orders.c.order_id == A)).scalar() == "court-xinjin"
        assert {r.court_id for r in conn.execute(sa.select(t.device_bindings))} == {"court-xinjin"}


# -- issue 12 review, F5: broker usernames are one namespace ------------------------------------------------------

def test_an_order_never_names_a_broker_username_another_holder_has(world, engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Court Pidu names the service's own broker account, his tracker's id as an OwnTracks user, her OwnTracks
    user (``her``) as a device, an agency's id as an OwnTracks user: each would have broken `stayaway mqtt
    credentials` for everyone (one account per name). Refused with the one answer, byte for byte, through
    every step; the credentials still come out whole."""
    api, _ = world

    def respondent(n: int, device: str) -> dict:
        return pidu(n) | {"respondent": {"person_id": f"R-{n}", "device_id": device, "report_interval_s": 30}}

    her_phone = api.post("other_court", "/api/v1/orders", pidu(41, device_id="phone-001"))  # the reference answers
    her_topic = api.post("other_court", "/api/v1/orders", pidu(42, owntracks_topic=HER_TOPIC))
    his_tracker = api.post("other_court", "/api/v1/orders", respondent(43, "trk-001"))
    assert {r.status_code for r in (her_phone, her_topic, his_tracker)} == {409}
    asked = {
        "the service's account as her device": (pidu(44, device_id="stayaway"), her_phone),
        "her OwnTracks user as a device": (pidu(44, device_id="her"), her_phone),
        "his tracker's id as an OwnTracks user": (pidu(44, owntracks_topic="owntracks/trk-001/x"), her_topic),
        "her OwnTracks user, another topic": (pidu(44, owntracks_topic="owntracks/her/x"), her_topic),
        "an agency's id as an OwnTracks user": (pidu(44, owntracks_topic="owntracks/police-west/x"), her_topic),
        "the service's account as an OwnTracks user": (pidu(44, owntracks_topic="owntracks/stayaway/x"), her_topic),
        "the service's account as his tracker": (respondent(44, "stayaway"), his_tracker),
        "her OwnTracks user as his tracker": (respondent(44, "her"), his_tracker),
        "one order: his tracker's id as her OwnTracks user": (pidu(44, owntracks_topic="owntracks/trk-044/x"),
                                                              her_topic),
    }
    for why, (body, reference) in asked.items():
        r = api.post("other_court", "/api/v1/orders", body)
        assert (r.status_code, r.data) == (reference.status_code, reference.data), why
        text = r.get_data(as_text=True)
        assert not any(s in text for s in (A, "court-xinjin", "V-1", "stayaway", "trk-001", "police-west")), why
    # through its own order's steps too
    assert api.post("other_court", "/api/v1/orders", pidu(45)).status_code == 201
    own = "PSO-PIDU-0045"
    by_replace = api.post("other_court", f"/api/v1/orders/{own}/replace-device",
                          {"role": "victim", "device_id": "her", "reason": "new phone"})
    by_modify = api.post("other_court", f"/api/v1/orders/{own}/modify", {
        "order": pidu(45, owntracks_topic="owntracks/trk-001/x") | {"order_id": own}, "reason": "her app"})
    assert (by_replace.status_code, by_replace.data) == (her_phone.status_code, her_phone.data)
    assert (by_modify.status_code, by_modify.data) == (her_topic.status_code, her_topic.data)
    # the positive control: one person's phone as her own OwnTracks user is one account, and is accepted
    assert api.post("other_court", "/api/v1/orders", pidu(46, device_id="bea46",
                                                          owntracks_topic="owntracks/bea46/phone")).status_code == 201
    issued = generate(engine, lambda: NOW, tmp_path / "mqtt")  # whole: no name has two accounts
    assert {(i.username, i.kind) for i in issued} >= {("stayaway", "service"), ("trk-001", "device"),
                                                       ("her", "owntracks"), ("bea46", "device")}
    acl = (tmp_path / "mqtt" / "acl").read_text()
    assert "user bea46\ntopic write owntracks/bea46/phone\n\n" in acl  # her own phone's account: no deny
    assert "user her\ntopic write owntracks/her/phone\ntopic deny stayaway/v1/devices/her/#\n" in acl


def test_the_service_account_made_under_another_name_is_reserved_too(world, engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    api, _ = world
    generate(engine, lambda: NOW, tmp_path / "mqtt", service_user="svc-broker")
    taken = api.post("other_court", "/api/v1/orders", pidu(47, device_id="svc-broker"))
    reference = api.post("other_court", "/api/v1/orders", pidu(47, device_id="phone-001"))
    assert taken.status_code == 409 and taken.data == reference.data


def test_the_import_refuses_a_broker_username_the_same(world, engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput) as service:
        import_orders(engine, [(pidu(48, device_id="stayaway"), "b.json")], lambda: NOW)
    with pytest.raises(InvalidInput) as held:
        import_orders(engine, [(pidu(48, device_id="phone-001"), "b.json")], lambda: NOW)
    assert (service.value.field, str(service.value)) == (held.value.field, str(held.value)) == (
        "victim.device_id", f"b.json: {law.DeviceUnavailable('victim.device_id')}")
    theirs = tmp_path / "pidu.json"
    theirs.write_bytes(orjson.dumps([pidu(49), pidu(50, owntracks_topic="owntracks/trk-001/x"),
                                     pidu(51, device_id="her")]))
    url = engine.url.render_as_string(hide_password=False)
    run = subprocess.run([*STAYAWAY, "orders", "import", str(theirs), "--db", url], check=False, capture_output=True,
                         text=True, timeout=120, env={**os.environ, "STAYAWAY_DATA_DIR": str(tmp_path)})
    assert run.returncode == 2, run.stderr
    assert "not available for this order" in run.stderr and "victim.owntracks_topic" in run.stderr
    assert A not in run.stderr + run.stdout and "court-xinjin" not in run.stderr + run.stdout
    with engine.connect() as conn:
        assert conn.execute(sa.select(t.orders.c.order_id).order_by(t.orders.c.order_id)).scalars().all() == [A]


def test_two_courts_claiming_one_broker_username_at_once_exactly_one_wins(engine) -> None:  # type: ignore[no-untyped-def]
    """Court Xinjin's order names the OwnTracks topic owntracks/vic9/phone while court Pidu's names the device
    vic9: two different keys, one broker username. The second waits for the first and is refused."""
    import_agencies(engine, agencies(), lambda: NOW)
    first = builders.order_for(23)
    first["victim"] = {**first["victim"], "owntracks_topic": "owntracks/vic9/phone"}
    second = parse_order(pidu(24, device_id="vic9"))
    outcome: dict[str, object] = {}

    racer = threading.Thread(target=save_as_court_b, args=(engine, second, outcome))
    with engine.connect() as conn:  # closed (rolled back) whatever happens: the database can go afterwards
        tx = conn.begin()
        config_repo.save_order(conn, parse_order(first), "a", NOW)  # court Xinjin's, not yet committed
        racer.start()
        racer.join(0.5)
        waited = racer.is_alive()  # it waits for the first (PostgreSQL: the username's advisory lock)
        tx.commit()
    racer.join(30)
    assert waited
    assert outcome == {"pidu": "victim.device_id"}
    with engine.connect() as c:
        assert c.execute(sa.select(t.orders.c.order_id)).scalars().all() == ["PSO-T-0023"]


# -- issue 12 review, F6: another court's order id is never confirmed -----------------------------------------------

def test_creating_with_another_court_s_order_id_reads_as_any_unavailable_id(world, engine) -> None:  # type: ignore[no-untyped-def]
    """Ids are unique across courts (they are in alerts and evidence), so court Pidu cannot take court Xinjin's;
    the refusal is byte for byte the one for its own ended order's id and for a reserved id: it confirms no
    other court's order, in force or ended, and names none. Its own order in force: the precise ``exists``."""
    api, _ = world
    import_orders(engine, [(builders.order_for(60), "c.json")], lambda: NOW)
    assert api.post("court", "/api/v1/orders/PSO-T-0060/cancel", {"reason": "set aside"}).status_code == 200
    assert api.post("other_court", "/api/v1/orders", pidu(61)).status_code == 201
    assert api.post("other_court", "/api/v1/orders/PSO-PIDU-0061/cancel", {"reason": "withdrawn"}).status_code == 200
    assert api.post("other_court", "/api/v1/orders", pidu(62)).status_code == 201
    ids = {
        "another court's order in force": A,
        "another court's ended order": "PSO-T-0060",
        "its own ended order": "PSO-PIDU-0061",
        "a reserved id": "..",
    }
    answers = {why: api.post("other_court", "/api/v1/orders", pidu(63) | {"order_id": order_id})
               for why, order_id in ids.items()}
    first = answers["another court's order in force"]
    assert first.status_code == 409 and first.get_json()["error"]["code"] == "order_id_unavailable"
    assert first.get_json()["error"]["field"] == "order_id"
    for why, r in answers.items():
        assert (r.status_code, r.data) == (first.status_code, first.data), why
    assert not any(s in first.get_data(as_text=True) for s in (A, "court-xinjin", "exists"))
    own = api.post("other_court", "/api/v1/orders", pidu(62))  # its own order in force: theirs, said precisely
    assert own.status_code == 409 and own.get_json()["error"] == {
        "code": "exists", "message": "order PSO-PIDU-0062 exists; modify it instead", "field": "order_id"}
    # reads answer as for an unknown order, and nothing was written to court Xinjin's order
    unknown, theirs = api.get("other_court", "/api/v1/orders/PSO-NOPE"), api.get("other_court", f"/api/v1/orders/{A}")
    assert unknown.status_code == theirs.status_code == 404
    assert theirs.data.replace(A.encode(), b"ID") == unknown.data.replace(b"PSO-NOPE", b"ID")
    with engine.connect() as conn:
        assert conn.execute(sa.select(t.orders.c.court_id).where(t.orders.c.order_id == A)).scalar() == "court-xinjin"
        assert conn.execute(sa.select(sa.func.count()).select_from(t.order_versions)
                            .where(t.order_versions.c.order_id == A)).scalar() == 1
