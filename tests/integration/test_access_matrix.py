"""Every API operation × every kind of caller × own, other and guessed object ids.

No caller gets a 2xx for what is not theirs; the respondent, an out-of-scope officer and the victim
never see the victim's coordinates; the victim's own order shows her its status and nothing more.
The orders, alerts and fixes are made by the real pipeline from wire messages.
"""

from __future__ import annotations

import base64
import copy
import json
from datetime import UTC, datetime, timedelta

import orjson
import pyotp
import pytest
from argon2 import PasswordHasher
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from geofence import FrameCache
from service.adapters.db.engine import make_engine
from service.auth import Auth
from service.domain.directory import Directory
from service.domain.monitoring import Monitor
from service.importing import import_agencies, import_orders
from service.mqtt_credentials import generate
from service.order_admin import OrderAdmin
from service.pipeline import Pipeline
from service.state import rebuild
from service.web import WebDeps, create_app
from service.wire import Inbound
from simulators.walk import offset
from tests.support import builders

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
A, B, GUESS = "PSO-2026-0001", "PSO-PIDU-0002", "PSO-GUESSED-9"
HER = offset(*builders.HOME, 40, -60)  # phone-001's last fix: must never leak to the wrong caller


def _agencies() -> dict:
    """The test agencies, another court, and a police station far from every order (out of scope)."""
    body = copy.deepcopy(builders.AGENCIES)
    body["features"].append({"type": "Feature", "geometry": None,
                             "properties": {"agency_id": "court-pidu", "name": "Pidu court", "kind": "court"}})
    far = [[104.50, 31.00], [104.60, 31.00], [104.60, 31.10], [104.50, 31.10], [104.50, 31.00]]
    body["features"].append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [far]},
                             "properties": {"agency_id": "police-north", "name": "North", "kind": "police"}})
    return body


def _order_b() -> dict:
    """Court Pidu's order; its only zone is the example's workplace, in the east station's area."""
    body = builders.order_for(2, court="court-pidu") | {"order_id": B}
    body["zones"] = {"type": "FeatureCollection",
                     "features": [f for f in body["zones"]["features"] if f["properties"]["zone_id"] == "work"]}
    return body


def _msg(device: str, kind: str, body: dict) -> Inbound:
    return Inbound(f"stayaway/v1/devices/{device}/{kind}", orjson.dumps(body), NOW)


@pytest.fixture
def world(engine, tmp_path):  # type: ignore[no-untyped-def]
    import_agencies(engine, _agencies(), lambda: NOW)
    order_a = builders.order(**builders.ZONES_ONLY)
    import_orders(engine, [(order_a, "a.json"), (_order_b(), "b.json")], lambda: NOW)
    monitor = Monitor(FrameCache(), Directory([]), iter(f"alert-{i}" for i in range(1000)).__next__)
    with engine.begin() as conn:
        rebuild(monitor, conn, now=NOW)
    pipeline = Pipeline(engine, monitor, lambda: NOW, 256 * 1024)
    t = NOW - timedelta(seconds=30)
    walk = [offset(*builders.HOME, n, 0) for n in (900, 400, 200, 100, 50)]
    pipeline.process([_msg("phone-001", "location", builders.location(1, *HER, ts=t))]
                     + [_msg("trk-001", "location", builders.location(i + 1, lat, lon, ts=t + timedelta(seconds=5 * i)))
                        for i, (lat, lon) in enumerate(walk)])
    work = offset(30.4415, 103.882, 0, 0)
    pipeline.process([_msg("phone-002", "panic", {"seq": 1, "ts": builders.rfc3339(t), "lat": work[0], "lon": work[1],
                                                  "acc": 10.0})])
    with engine.connect() as conn:
        from service.adapters.db import alerts_repo
        alerts = {a["order_id"]: a["alert_id"] for a in alerts_repo.alert_rows(conn, "open")}
    assert set(alerts) == {A, B}, alerts
    creds = {i.username: i.password for i in generate(engine, lambda: NOW, tmp_path / "mqtt")}
    auth = Auth(engine, lambda: NOW, PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1))
    new = auth.create_account("root", "admin password 1", "admin", None)
    headers = {
        "court": _bearer(auth.create_token("court-xinjin-desk", "court", "court-xinjin")),
        "other_court": _bearer(auth.create_token("court-pidu-desk", "court", "court-pidu")),
        "police": _bearer(auth.create_token("west-desk", "police", "police-west")),
        "other_police": _bearer(auth.create_token("north-desk", "police", "police-north")),
        "supervisor": _bearer(auth.create_token("west-sup", "supervisor", "police-west")),
        "admin": _bearer(auth.sign_in("root", "admin password 1", pyotp.TOTP(new.totp_secret).at(NOW), None)),
        "victim": _basic("phone-001", creds["phone-001"]),
        "other_victim": _basic("phone-002", creds["phone-002"]),
        "respondent": _basic("trk-001", creds["trk-001"]),
        "wrong_password": _basic("phone-001", creds["phone-001"] + "x"),
        "anonymous": {},
        "bad_token": _bearer("st_" + "A" * 43),
    }
    reader = make_engine(engine.url.render_as_string(hide_password=False), writer=False)  # as serve has it
    app = create_app(WebDeps(reader, lambda: {"ready": True, "counters": {}}, None, auth,
                             OrderAdmin(engine, lambda: NOW), Ed25519PrivateKey.generate()), {"TESTING": True})
    yield app.test_client(), headers, alerts
    reader.dispose()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def operations(alerts: dict[str, str]) -> list[tuple[str, str, str, dict | None]]:
    """(method, path, whose: own | other | guess | none, body) for every /api/v1 operation."""
    ops: list[tuple[str, str, str, dict | None]] = [
        ("GET", "/api/v1/orders", "none", None), ("GET", "/api/v1/alerts?status=all", "none", None),
        ("GET", "/api/v1/notices", "none", None), ("GET", "/api/v1/accountability", "none", None),
        ("GET", "/metrics", "none", None), ("GET", "/api/v1/auth/me", "none", None),
        ("GET", "/api/v1/agencies", "none", None), ("GET", "/api/v1/alerts/stream", "none", None), ("POST", "/api/v1/agencies", "none", _agencies()),
        ("POST", "/api/v1/orders", "other", _order_b() | {"order_id": "PSO-NEW-1"}),
    ]
    for whose, order_id in (("own", A), ("other", B), ("guess", GUESS)):
        ops += [("GET", f"/api/v1/orders/{order_id}", whose, None),
                ("GET", f"/api/v1/orders/{order_id}/versions", whose, None),
                ("GET", f"/api/v1/orders/{order_id}/history", whose, None),
                ("GET", f"/api/v1/orders/{order_id}/service", whose, None),
                ("POST", f"/api/v1/orders/{order_id}/evidence", whose, {"reason": "hearing on 3 December"}),
                ("GET", f"/api/v1/orders/{order_id}/timeline?from=2026-11-21T00:00:00Z", whose, None),
                ("POST", f"/api/v1/orders/{order_id}/victim-location", whose, {"reason": "a reason long enough"}),
                ("POST", f"/api/v1/orders/{order_id}/service", whose, {"party": "victim", "served_at": "2026-11-21T09:00:00Z"}),
                ("POST", f"/api/v1/orders/{order_id}/extend", whose, {"expires_at": "2028-06-01T00:00:00Z", "reason": "r"}),
                ("POST", f"/api/v1/orders/{order_id}/modify", whose, {"order": builders.order(), "reason": "r"}),
                ("POST", f"/api/v1/orders/{order_id}/end", whose, {"outcome": "withdrawn", "reason": "r"}),
                ("POST", f"/api/v1/orders/{order_id}/replace-device", whose,
                 {"role": "respondent", "device_id": "trk-777", "reason": "r"}),
                ("POST", f"/api/v1/orders/{order_id}/release-device", whose,
                 {"role": "victim", "what": "device", "reason": "phone handed back"}),
                ("POST", f"/api/v1/orders/{order_id}/reconsideration", whose, {"reason": "appeal filed"}),
                ("POST", f"/api/v1/orders/{order_id}/cancel", whose, {"reason": "the victim asked"})]
    for whose, alert_id in (("own", alerts[A]), ("other", alerts[B]), ("guess", "alert-guessed")):
        ops += [("POST", f"/api/v1/alerts/{alert_id}/{action}", whose, {"note": "n", "unit": "u", "outcome": "other"})
                for action in ("acknowledge", "dispatch", "on_scene", "resolve", "refer")]
    return ops


# what each caller may succeed at: order A (court Xinjin; victim phone-001, respondent trk-001) and its
# breach alert, order B (court Pidu; victim phone-002) and its panic alert
READS = {"GET /api/v1/orders", "GET /api/v1/alerts", "GET /api/v1/auth/me"}
OFFICER = READS | {"GET /api/v1/agencies"}
MAY_SUCCEED: dict[str, set[str] | None] = {
    "victim": READS | {"GET /api/v1/notices", "GET /api/v1/orders/{A}"},
    "other_victim": READS | {"GET /api/v1/notices", "GET /api/v1/orders/{B}"},
    "respondent": READS,  # and those lists are empty
    "other_police": OFFICER,
    "other_court": None,  # OFFICER, issuing, and anything on its own order B (checked below)
    "admin": OFFICER | {"GET /api/v1/accountability", "GET /metrics", "POST /api/v1/agencies",
                        # any order's device, with a reason (audited, the court told); no case data in the answer
                        "POST /api/v1/orders/{A}/release-device", "POST /api/v1/orders/{B}/release-device"},
}


def _key(method: str, path: str, alerts: dict[str, str]) -> str:
    bare = path.split("?")[0].replace(A, "{A}").replace(B, "{B}").replace(GUESS, "{guess}")
    return f"{method} {bare.replace(alerts[A], '{alert A}').replace(alerts[B], '{alert B}')}"


def _allowed(who: str, key: str) -> bool:
    allowed = MAY_SUCCEED[who]
    if allowed is None:  # court Pidu: its own order and alert
        return key in OFFICER or key == "POST /api/v1/orders" or "{B}" in key or "{alert B}" in key
    return key in allowed


def _call(client, headers, method, path, body):  # type: ignore[no-untyped-def]
    return client.open(path, method=method, headers=headers, json=body) if body is not None else \
        client.open(path, method=method, headers=headers)


def _coordinates_in(text: str) -> bool:
    """Her fix to about a metre (5 decimals, truncated or rounded): his fixes near her home differ there."""
    return any(s in text for v in HER for s in (f"{v:.5f}", f"{v:.6f}"[:-1]))


def test_no_caller_gets_what_is_not_theirs(world) -> None:  # type: ignore[no-untyped-def]
    client, headers, alerts = world
    checked = 0
    for who in ("anonymous", "bad_token", "wrong_password", "respondent", "victim", "other_victim", "other_police",
                "other_court", "admin"):
        for method, path, whose, body in operations(alerts):
            r = _call(client, headers[who], method, path, body)
            checked += 1
            key = _key(method, path, alerts)
            if who in ("anonymous", "bad_token", "wrong_password"):
                assert r.status_code == 401, (who, key, r.status_code)
                continue
            if 200 <= r.status_code < 300:
                assert _allowed(who, key), (who, key, r.status_code, r.get_data(as_text=True)[:200])
            if whose == "guess":
                assert r.status_code in (400, 403, 404), (who, key, r.status_code)
            text = r.get_data().decode("utf-8", "replace")  # a zip (evidence) is bytes
            assert not _coordinates_in(text), (who, key)  # none of these may ever see where she is
            if who == "respondent" and r.status_code == 200 and key != "GET /api/v1/auth/me":
                assert json.loads(text) in ({"orders": []}, {"alerts": []}), (key, text[:200])
    assert checked > 400


VICTIM_ALERT_FIELDS = {"alert_id", "order_id", "kind", "status", "zone_id", "condition", "raised_at", "acknowledged_at",
                       "dispatched_at", "on_scene_at", "resolved_at", "outcome", "escalation_level"}


def test_the_victim_sees_her_order_s_status_how_its_alerts_are_handled_and_notices_and_nothing_more(world) -> None:  # type: ignore[no-untyped-def]
    client, headers, _ = world
    mine = client.get(f"/api/v1/orders/{A}", headers=headers["victim"]).get_json()
    assert set(mine) == {"order_id", "type", "court", "issued_at", "expires_at", "status", "version", "ended_at",
                         "panic_reaches_police_until", "alerts"}
    assert [a["kind"] for a in mine["alerts"]] == ["zone_breach"] and set(mine["alerts"][0]) == VICTIM_ALERT_FIELDS
    assert [o["order_id"] for o in client.get("/api/v1/orders", headers=headers["victim"]).get_json()["orders"]] == [A]
    [breach] = client.get("/api/v1/alerts?status=all", headers=headers["victim"]).get_json()["alerts"]  # about her
    assert breach["kind"] == "zone_breach" and set(breach) == VICTIM_ALERT_FIELDS  # no fix, distance, recipients
    notices = client.get("/api/v1/notices", headers=headers["victim"]).get_json()["notices"]
    assert [n["kind"] for n in notices] == ["warning"] and set(notices[0]) == {
        "notice_id", "kind", "text", "alert_id", "topic", "order_id", "locale"}
    theirs = client.get("/api/v1/alerts?status=all", headers=headers["other_victim"]).get_json()["alerts"]
    assert [a["kind"] for a in theirs] == ["panic"]  # her own panic


def test_her_phone_follows_each_step_of_an_alert_about_her_but_not_evidence_only_ones(world, engine) -> None:  # type: ignore[no-untyped-def]
    import sqlalchemy as sa

    from service.adapters.db import schema as t

    client, headers, _ = world
    with engine.begin() as conn:
        conn.execute(sa.update(t.alerts).where(t.alerts.c.order_id == A, t.alerts.c.kind == "zone_breach").values(
            status="on_scene", acknowledged_at=NOW, dispatched_at=NOW, on_scene_at=NOW))
    [breach] = client.get("/api/v1/alerts?status=all", headers=headers["victim"]).get_json()["alerts"]
    assert (breach["status"], breach["dispatched_at"] is not None, breach["on_scene_at"] is not None) == (
        "on_scene", True, True)
    with engine.begin() as conn:
        conn.execute(sa.update(t.alerts).where(t.alerts.c.order_id == A).values(retroactive=True))
    assert client.get("/api/v1/alerts?status=all", headers=headers["victim"]).get_json()["alerts"] == []
    assert client.get(f"/api/v1/orders/{A}", headers=headers["victim"]).get_json()["alerts"] == []


def test_officers_in_scope_do_get_their_own_objects(world) -> None:  # type: ignore[no-untyped-def]
    """The positive control: the refusals above are not a broken API refusing everyone."""
    client, headers, alerts = world
    for who in ("court", "police", "supervisor"):
        for path in (f"/api/v1/orders/{A}", f"/api/v1/orders/{A}/versions", f"/api/v1/orders/{A}/history",
                     f"/api/v1/orders/{A}/service"):
            assert client.get(path, headers=headers[who]).status_code == 200, (who, path)
        listed = client.get("/api/v1/alerts?status=all", headers=headers[who]).get_json()["alerts"]
        assert alerts[A] in {a["alert_id"] for a in listed} and alerts[B] not in {a["alert_id"] for a in listed}
    located = client.post(f"/api/v1/orders/{A}/victim-location", headers=headers["police"],
                          json={"reason": "welfare check after the breach"})
    assert located.status_code == 200 and located.get_json()["victim"]["lat"] == pytest.approx(HER[0])
    assert client.get("/api/v1/accountability", headers=headers["supervisor"]).status_code == 200
    assert client.post(f"/api/v1/orders/{A}/cancel", headers=headers["court"], json={"reason": "set aside"}).status_code == 200


def test_the_timeline_shows_his_track_and_every_event_and_her_positions_only_by_need_to_know(world) -> None:  # type: ignore[no-untyped-def]
    client, headers, alerts = world
    a = client.get(f"/api/v1/orders/{A}/timeline?from=2026-11-21T00:00:00Z", headers=headers["police"]).get_json()
    assert a["victim_positions"] == "omitted" and a["victim_track"] is None
    assert len(a["respondent_track"]) == 5 and {p["device_id"] for p in a["respondent_track"]} == {"trk-001"}
    assert [(e["kind"], e["event"], e["by"]) for e in a["events"]][0] == ("zone_breach", "raised", "system")
    assert not _coordinates_in(json.dumps(a))  # no open panic or proximity: her position stays out
    b = client.get(f"/api/v1/orders/{B}/timeline?from=2026-11-21T00:00:00Z", headers=headers["other_court"]).get_json()
    assert b["victim_positions"] == "included"  # her panic is open: whoever handles it needs to know where she is
    assert [e["kind"] for e in b["events"]] == ["panic"] and "victim" in b["events"][0]
    assert client.get(f"/api/v1/orders/{A}/timeline?from=2026-11-22T00:00:00Z&to=2026-11-21T00:00:00Z",
                      headers=headers["police"]).status_code == 400


def test_a_silent_panic_shows_nothing_on_her_phone_but_reaches_the_police(world, engine) -> None:  # type: ignore[no-untyped-def]
    client, headers, _ = world
    monitor = Monitor(FrameCache(), Directory([]), iter(f"silent-{i}" for i in range(9)).__next__)
    with engine.begin() as conn:
        rebuild(monitor, conn, now=NOW)
    Pipeline(engine, monitor, lambda: NOW, 1 << 18).process([_msg("phone-001", "panic", {
        "seq": 7, "ts": builders.rfc3339(NOW), "lat": HER[0], "lon": HER[1], "acc": 9.0, "silent": True})])
    police = {a["kind"] for a in client.get("/api/v1/alerts", headers=headers["police"]).get_json()["alerts"]}
    assert "panic" in police
    hers = client.get("/api/v1/alerts?status=all", headers=headers["victim"]).get_json()["alerts"]
    assert [a["kind"] for a in hers] == ["zone_breach"]  # the breach about her, not the silent panic
    assert [a["kind"] for a in client.get(f"/api/v1/orders/{A}", headers=headers["victim"]).get_json()["alerts"]] == [
        "zone_breach"]


def test_the_court_downloads_a_bundle_that_verifies_and_the_download_is_audited(world, engine) -> None:  # type: ignore[no-untyped-def]
    import sqlalchemy as sa

    from service.adapters.db import schema as t
    from service.evidence.bundle import verify

    client, headers, _ = world
    no_reason = client.post(f"/api/v1/orders/{A}/evidence", headers=headers["court"], json={})
    assert no_reason.status_code == 400 and no_reason.get_json()["error"]["field"] == "reason"
    r = client.post(f"/api/v1/orders/{A}/evidence", headers=headers["court"], json={"reason": "hearing on 3 December"})
    assert r.status_code == 200 and r.mimetype == "application/zip"
    v = verify(r.data)
    assert v.ok and v.order_id == A and v.records > 0, v.problems
    assert client.post(f"/api/v1/orders/{A}/evidence", headers=headers["police"],
                       json={"reason": "hearing on 3 December"}).status_code == 403
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.access_audit.c.actor, t.access_audit.c.outcome)
                            .where(t.access_audit.c.action == "export")).all()
    assert [tuple(x) for x in rows] == [("court-xinjin-desk", "ok"), ("west-desk", "denied")]
