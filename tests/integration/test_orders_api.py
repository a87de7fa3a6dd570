"""The court's steps on orders through the JSON API, as the law allows them, on a real database."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import sqlalchemy as sa

from geofence import FrameCache
from service.adapters.db import config_repo
from service.adapters.db import schema as t
from service.adapters.db.engine import make_engine
from service.domain.directory import Directory
from service.domain.monitoring import Monitor
from service.pipeline import Pipeline
from service.state import rebuild
from service.wire import Inbound
from tests.integration.test_web import client  # noqa: F401 - the fixture
from tests.support import builders

ORDER = "PSO-2026-0001"


def test_the_court_issues_an_order_and_police_cannot(client) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    c, _ = client
    body = builders.order_for(3)
    refused = c.as_("police").post("/api/v1/orders", body)
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "forbidden"
    made = c.as_("court").post("/api/v1/orders", body)
    assert made.status_code == 201 and made.get_json() == {"order_id": "PSO-T-0003", "version": 1, "warnings": []}
    again = c.as_("court").post("/api/v1/orders", body)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "exists"
    history = c.as_("court").get("/api/v1/orders/PSO-T-0003/history").get_json()["history"]
    assert [(h["event"], h["by"], h["role"]) for h in history] == [("issued", "court-desk", "court")]
    bad = c.as_("court").post("/api/v1/orders", {**body, "order_id": "PSO-T-0004", "min_distance_m": -5})
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "min_distance_m"


def test_under_the_law_in_force_an_order_is_extended_by_at_most_six_months_each_time(client) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    c, _ = client  # its court names no profile: prc-advl-2016 (the draft's once-by-a-year: test_legal_profiles)
    too_long = c.as_("court").post(f"/api/v1/orders/{ORDER}/extend", {"expires_at": "2027-11-20T09:00:01Z",
                                                                       "reason": "risk assessment"})
    assert too_long.status_code == 409 and too_long.get_json()["error"]["code"] == "extension_too_long"
    assert "prc-advl-2016" in too_long.get_json()["error"]["message"] and "ADVL Art. 30" in too_long.get_json()["error"]["message"]
    done = c.as_("court").post(f"/api/v1/orders/{ORDER}/extend", {"expires_at": "2027-11-20T09:00:00Z",
                                                                   "reason": "risk assessment"})
    assert done.status_code == 200 and done.get_json()["extensions"] == 1
    assert done.get_json()["expires_at"].startswith("2027-11-20T09:00:00")
    again = c.as_("court").post(f"/api/v1/orders/{ORDER}/extend", {"expires_at": "2028-05-20T09:00:00Z",
                                                                    "reason": "risk persists"})
    assert again.status_code == 200 and again.get_json()["extensions"] == 2  # the law sets no count
    listed = c.as_("court").get(f"/api/v1/orders/{ORDER}").get_json()
    assert listed["expires_at"].startswith("2028-05-20") and listed["version"] == 3  # a new version says so


def test_a_temporary_order_is_superseded_by_the_ordinary_one(client) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    c, _ = client
    temporary = {**builders.order_for(5), "type": "temporary", "expires_at": None}
    assert c.as_("court").post("/api/v1/orders", temporary).status_code == 201
    ordinary = {**builders.order_for(5), "order_id": "PSO-O-0005", "supersedes": "PSO-T-0005"}
    assert c.as_("court").post("/api/v1/orders", ordinary).status_code == 201
    old = c.as_("court").get("/api/v1/orders/PSO-T-0005").get_json()
    assert old["status"] == "superseded"
    history = c.as_("court").get("/api/v1/orders/PSO-T-0005/history").get_json()["history"]
    assert [h["event"] for h in history] == ["issued", "superseded"] and history[1]["details"] == {"by": "PSO-O-0005"}
    ext = c.as_("court").post("/api/v1/orders/PSO-T-0005/extend", {"expires_at": "2027-01-01T00:00:00Z", "reason": "x"})
    assert ext.status_code == 409 and ext.get_json()["error"]["code"] in ("order_ended", "not_extendable")


def test_nobody_but_the_court_suspends_changes_or_cancels_an_order(client, sqlite_url) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    c, _ = client
    for who in ("police", "supervisor", "east", "nobody"):
        for step, body in (("cancel", {"reason": "the victim asked to stop it"}),
                           ("modify", {"order": builders.order(), "reason": "she consents to contact"}),
                           ("extend", {"expires_at": "2028-01-01T00:00:00Z", "reason": "x"})):
            r = c.as_(who).post(f"/api/v1/orders/{ORDER}/{step}", body)
            assert r.status_code in (401, 403, 404), (who, step, r.status_code)
    assert c.as_("court").get(f"/api/v1/orders/{ORDER}").get_json()["status"] == "active"
    engine = sa.create_engine(sqlite_url)
    with engine.connect() as conn:
        denied = conn.execute(sa.select(sa.func.count()).select_from(t.access_audit)
                              .where(t.access_audit.c.action == "order_change", t.access_audit.c.outcome == "denied")).scalar()
    engine.dispose()
    assert denied >= 6  # police and their supervisor, three steps each, on the record


def test_a_modification_is_a_new_version_with_who_and_why_and_legal_fields_have_their_own_steps(client) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    c, _ = client
    changed = builders.order(min_distance_m=800)
    no_reason = c.as_("court").post(f"/api/v1/orders/{ORDER}/modify", {"order": changed})
    assert no_reason.status_code == 409 and no_reason.get_json()["error"]["code"] == "reason_required"
    done = c.as_("court").post(f"/api/v1/orders/{ORDER}/modify", {"order": changed, "reason": "hearing of 30 Nov"})
    assert done.status_code == 200 and done.get_json()["changed"] == ["min_distance_m"]
    versions = c.as_("court").get(f"/api/v1/orders/{ORDER}/versions").get_json()["versions"]
    assert [(v["version"], v["by"], v["reason"], v["changed"]) for v in versions] == [
        (1, "import:t", None, []), (2, "court-desk", "hearing of 30 Nov", ["min_distance_m"])]
    assert "coordinates" not in str(versions)
    legal = c.as_("court").post(f"/api/v1/orders/{ORDER}/modify",
                                {"order": builders.order(expires_at="2030-01-01T00:00:00Z"), "reason": "longer"})
    assert legal.status_code == 400 and legal.get_json()["error"]["field"] == "expires_at"


def test_a_cancelled_order_is_no_longer_monitored(client, sqlite_url) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    c, _ = client
    missing = c.as_("court").post(f"/api/v1/orders/{ORDER}/cancel", {})
    assert missing.status_code == 409 and missing.get_json()["error"]["code"] == "reason_required"
    done = c.as_("court").post(f"/api/v1/orders/{ORDER}/cancel", {"reason": "set aside on appeal"})
    assert done.status_code == 200 and done.get_json()["status"] == "cancelled"
    engine = sa.create_engine(sqlite_url)
    with engine.connect() as conn:
        assert config_repo.load_orders(conn) == []  # what the monitor loads
    engine.dispose()


def test_service_to_each_party_is_recorded_and_the_rest_listed(client) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    c, _ = client
    r = c.as_("police").post(f"/api/v1/orders/{ORDER}/service", {"party": "respondent", "served_at": "2026-11-20T12:00:00Z",
                                                                  "method": "in person"})
    assert r.status_code == 200 and r.get_json()["unserved"] == ["victim", "police", "committee"]
    bad = c.as_("police").post(f"/api/v1/orders/{ORDER}/service", {"party": "neighbour", "served_at": "2026-11-20T12:00:00Z"})
    assert bad.status_code == 409 and bad.get_json()["error"]["code"] == "bad_party"
    assert c.as_("court").get(f"/api/v1/orders/{ORDER}/service").get_json()["served"] == {
        "respondent": "2026-11-20T12:00:00.000Z"}


def test_the_victim_s_position_needs_an_open_alert_or_a_recorded_reason(client, sqlite_url) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    c, _ = client
    refused = c.as_("police").post(f"/api/v1/orders/{ORDER}/victim-location", {})
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "need_to_know"
    assert c.as_("supervisor").post(f"/api/v1/orders/{ORDER}/victim-location",
                                    {"reason": "checking on her at the hearing"}).status_code == 403
    granted = c.as_("police").post(f"/api/v1/orders/{ORDER}/victim-location", {"reason": "welfare check, call from her mother"})
    assert granted.status_code == 200 and granted.get_json()["basis"] == "break_glass"
    assert granted.get_json()["victim"] is None  # her phone has not reported in this test
    engine = sa.create_engine(sqlite_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.access_audit.c.actor, t.access_audit.c.outcome, t.access_audit.c.reason)
                            .where(t.access_audit.c.action == "read_victim_data").order_by(t.access_audit.c.id)).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [("west-desk", "denied", None), ("west-sup", "denied", "checking on her at the hearing"),
                                        ("west-desk", "ok", "welfare check, call from her mother")]


def test_a_broken_tracker_is_replaced_without_a_gap(client, sqlite_url) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """Through the API: a new version with the new tracker; rebuilt, the monitor keeps the old one's last fix
    and accepts the old tracker until the new one reports."""
    c, _ = client
    writer = make_engine(sqlite_url)
    monitor = Monitor(FrameCache(), Directory([]), iter(f"a{i}" for i in range(99)).__next__)
    with writer.begin() as conn:
        rebuild(monitor, conn)
    now = datetime.now(UTC)
    pipeline = Pipeline(writer, monitor, lambda: now, 1 << 18)
    pipeline.process([Inbound("stayaway/v1/devices/trk-001/location",
                              orjson.dumps(builders.location(1, 30.45, 103.80, ts=now)), now)])
    body = {"role": "respondent", "device_id": "trk-009", "reason": "strap broken, new tracker fitted"}
    assert c.as_("police").post(f"/api/v1/orders/{ORDER}/replace-device", body).status_code == 403
    done = c.as_("court").post(f"/api/v1/orders/{ORDER}/replace-device", body)
    assert done.status_code == 200 and done.get_json()["changed"] == ["respondent"]
    with writer.begin() as conn:
        rebuild(monitor, conn)
    order = monitor.orders[ORDER]
    assert order.spec.respondent.device_id == "trk-009" and order.handover == {"trk-001": "respondent"}
    assert order.respondent_fix is not None and order.respondent_fix.lat == 30.45  # his last position carries over
    assert monitor.roles_of("trk-001") == [(ORDER, "respondent")]
    writer.dispose()


def test_a_reconsideration_on_record_leaves_the_order_in_force(client) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    c, _ = client
    r = c.as_("court").post(f"/api/v1/orders/{ORDER}/reconsideration", {"reason": "respondent applied on 23 Nov",
                                                                          "filed_at": "2026-11-23T10:00:00Z"})
    assert r.status_code == 200 and r.get_json() == {  # within 5 days of the ruling, at the issuing court
        "order_id": ORDER, "status": "active", "monitored": True, "filed_at": "2026-11-23T10:00:00.000Z",
        "court": "court-xinjin", "window_ends": "2026-11-25T09:00:00.000Z"}
    history = c.as_("court").get(f"/api/v1/orders/{ORDER}/history").get_json()["history"]
    assert history[-1]["event"] == "reconsideration" and history[-1]["details"]["suspends"] is False
    bad = c.as_("court").get(f"/api/v1/orders/{ORDER}/timeline?from=yesterday")
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "from"


def test_an_ordinary_order_supersedes_only_its_own_court_s_temporary_order(client) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    c, _ = client
    temporary = {**builders.order_for(6), "type": "temporary", "expires_at": None}
    assert c.as_("court").post("/api/v1/orders", temporary).status_code == 201
    by_temporary = {**builders.order_for(7), "type": "temporary", "expires_at": None, "supersedes": "PSO-T-0006"}
    r = c.as_("court").post("/api/v1/orders", by_temporary)
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "not_ordinary"
    unknown = c.as_("court").post("/api/v1/orders", {**builders.order_for(8), "supersedes": "PSO-NOPE"})
    assert unknown.status_code == 404
    assert c.as_("court").get("/api/v1/orders/PSO-T-0006").get_json()["status"] == "active"


def test_a_device_stands_for_one_person(client) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    c, _ = client
    someone_else = builders.order_for(9)
    someone_else["victim"] = {**someone_else["victim"], "device_id": "phone-001"}  # the example victim's phone
    r = c.as_("court").post("/api/v1/orders", someone_else)
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "device_unavailable"
    assert r.get_json()["error"]["field"] == "victim.device_id"
    assert "PSO-2026-0001" not in r.get_json()["error"]["message"]  # the other order is not named
    named_like_an_agency = builders.order_for(10)
    named_like_an_agency["respondent"] = {**named_like_an_agency["respondent"], "device_id": "police-west"}
    assert c.as_("court").post("/api/v1/orders", named_like_an_agency).get_json()["error"]["field"] == "respondent.device_id"
    second_order = builders.order_for(11)
    second_order["respondent"] = builders.order()["respondent"]  # the same respondent, a second victim: one tracker
    assert c.as_("court").post("/api/v1/orders", second_order).status_code == 201
