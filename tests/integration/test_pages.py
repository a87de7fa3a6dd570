"""The officers' web pages over the real app and a pipeline-made database (the access matrix's world):
signing in with the cookie, CSRF on every change, each page's scope, the victim's track only on a
need-to-know basis or with a recorded reason, both languages, Leaflet from the app itself."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pyotp
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from service.adapters.db import schema as t
from service.auth import Auth
from service.web.security import csrf_token
from tests.integration.test_access_matrix import (  # noqa: F401
    GUESS,
    HER,
    NOW,
    A,
    B,
    _coordinates_in,
    world,
)
from tests.support import builders

PASSWORD = "correct horse battery"
WINDOW = "from=2026-11-21T09:00:00Z&to=2026-11-21T11:00:00Z"  # the world's reports are at 09:59 UTC
ACCOUNTS = {  # name: (role, agency)
    "west-officer": ("police", "police-west"), "north-officer": ("police", "police-north"),
    "xinjin-judge": ("court", "court-xinjin"), "pidu-judge": ("court", "court-pidu"),
    "west-sup": ("supervisor", "police-west"), "root2": ("admin", None),
}


@pytest.fixture
def site(world, engine):  # type: ignore[no-untyped-def]  # noqa: F811
    """The world's app, and a signed-in browser-like client per account (the sign-in form, as a person)."""
    client, _, alerts = world
    auth = Auth(engine, lambda: NOW, PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1))
    secrets = {name: auth.create_account(name, PASSWORD, role, agency).totp_secret
               for name, (role, agency) in ACCOUNTS.items()}
    clients = {}
    for name in ACCOUNTS:
        c = client.application.test_client()
        signed = sign_in(c, name, pyotp.TOTP(secrets[name]).at(NOW))
        assert signed.status_code == 302 and signed.headers["Location"] == "/board", signed.get_data(as_text=True)
        clients[name] = c
    return client.application, clients, alerts, engine


def sign_in(c, account: str, code: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    form = c.get("/signin")
    token = re.search(r'name="csrf" value="([^"]+)"', form.get_data(as_text=True)).group(1)
    return c.post("/signin", data={"csrf": token, "account": account, "password": password, "code": code})


def session_cookie(c) -> str:  # type: ignore[no-untyped-def]
    return c.get_cookie("stayaway_session").value


def page_csrf(c, path: str = "/board") -> str:  # type: ignore[no-untyped-def]
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', c.get(path).get_data(as_text=True)).group(1)


def test_signing_in_sets_a_strict_http_only_cookie_and_wrong_factors_say_nothing_more(world, engine) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    client, _, _ = world
    auth = Auth(engine, lambda: NOW, PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1))
    secret = auth.create_account("officer-a", PASSWORD, "police", "police-west").totp_secret
    c = client.application.test_client()
    assert c.get("/board").status_code == 302 and c.get("/board").headers["Location"].startswith("/signin")
    bad = sign_in(c, "officer-a", pyotp.TOTP(secret).at(NOW), password="wrong password!")
    assert bad.status_code == 401 and "stayaway_session" not in bad.headers.get("Set-Cookie", "")
    def page(r):  # type: ignore[no-untyped-def]  # the form's own one-time value aside
        return re.sub(r'name="csrf" value="[^"]+"', "", r.get_data(as_text=True))

    assert page(sign_in(c, "nobody", "123456")) == page(bad)  # an unknown name reads exactly like a wrong password
    forged = c.post("/signin", data={"csrf": "made-up", "account": "officer-a", "password": PASSWORD,
                                     "code": pyotp.TOTP(secret).at(NOW)})
    assert forged.status_code == 401  # no sign-in form of ours: refused before the password is tried
    good = sign_in(c, "officer-a", pyotp.TOTP(secret).at(NOW))
    assert good.status_code == 302
    cookie = next(h for h in good.headers.getlist("Set-Cookie") if h.startswith("stayaway_session="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert c.get("/board").status_code == 200
    with engine.connect() as conn:
        outcomes = [r.outcome for r in conn.execute(sa.select(t.access_audit.c.outcome).where(
            t.access_audit.c.action == "sign_in", t.access_audit.c.actor == "officer-a"))]
    assert sorted(outcomes) == ["failed", "ok"]  # the forged form never reached the password check


def test_the_api_takes_the_cookie_but_every_change_needs_the_page_s_csrf_token(site) -> None:  # type: ignore[no-untyped-def]
    app, clients, _, _ = site
    judge = clients["xinjin-judge"]
    assert judge.get("/api/v1/auth/me").get_json()["subject"] == "xinjin-judge"
    body = {"reason": "hearing on 3 December"}
    assert judge.post(f"/api/v1/orders/{A}/evidence", json=body).status_code == 403  # no header
    assert judge.post(f"/api/v1/orders/{A}/evidence", json=body,
                      headers={"X-CSRF-Token": csrf_token("ss_someone-else")}).status_code == 403
    ok = judge.post(f"/api/v1/orders/{A}/evidence", json=body, headers={"X-CSRF-Token": page_csrf(judge)})
    assert ok.status_code == 200 and ok.mimetype == "application/zip"
    # an API token never works as a cookie (tokens live in scripts, not browsers)
    bare = app.test_client()
    bare.set_cookie("stayaway_session", "st_" + "A" * 43)
    assert bare.get("/api/v1/orders").status_code == 401


def test_each_page_shows_only_what_the_api_would(site) -> None:  # type: ignore[no-untyped-def]
    _, clients, alerts, _ = site
    expected = {  # page: {account: status}; everything not listed must not be a 200
        "/board": set(ACCOUNTS), "/orders": set(ACCOUNTS),
        f"/orders/{A}?{WINDOW}": {"west-officer", "xinjin-judge", "west-sup"},
        f"/orders/{B}?{WINDOW}": {"pidu-judge"},
        f"/orders/{GUESS}": set(),
        "/accountability": {"west-sup", "root2"},
    }
    for path, allowed in expected.items():
        for name, c in clients.items():
            r = c.get(path)
            assert (r.status_code == 200) == (name in allowed), (path, name, r.status_code)
            if r.status_code != 200:
                assert r.status_code in (403, 404), (path, name, r.status_code)
            assert not _coordinates_in(r.get_data(as_text=True)), (path, name)  # nobody here needs her position
    board = clients["west-officer"].get("/board").get_data(as_text=True)
    north = clients["north-officer"].get("/board").get_data(as_text=True)
    assert alerts[A] in board and alerts[A] not in north
    assert A in clients["west-officer"].get("/orders").get_data(as_text=True)
    assert B not in clients["west-officer"].get("/orders").get_data(as_text=True)


def _map_data(html: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="map-data">(.*?)</script>', html, re.DOTALL).group(1))


HOME_LON_LAT = f"{builders.HOME[1]}, {builders.HOME[0]}"  # the home zone's centre, as GeoJSON writes it


def test_the_order_page_maps_his_track_and_her_places_only_with_a_reason(site) -> None:  # type: ignore[no-untyped-def]
    _, clients, _, _ = site
    html = clients["xinjin-judge"].get(f"/orders/{A}?{WINDOW}").get_data(as_text=True)
    layers = _map_data(html)
    assert len(layers["respondent"]) == 5 and "victim" not in layers
    # her places are hidden like her track: no zone shapes, no distances to them (his track would give them away)
    assert "zones" not in layers and set(layers["distance"]) == {"t"} and len(layers["distance"]["t"]) == 5
    assert HOME_LON_LAT not in html.replace("[", "").replace("]", "")
    assert {p["agency_id"] for p in layers["precincts"]} >= {"police-west", "police-east"}
    shown = clients["xinjin-judge"].post(f"/orders/{A}", data={
        "csrf": page_csrf(clients["xinjin-judge"]), "reason": "hearing on 3 December: the breach",
        "from": "2026-11-21T09:00:00Z", "to": "2026-11-21T11:00:00Z"}).get_data(as_text=True)
    layers = _map_data(shown)
    assert [z["zone_id"] for z in layers["zones"]] == ["home", "work"]
    assert HOME_LON_LAT in shown.replace("[", "").replace("]", "")  # the check above would have seen it
    # he walked 900, 400, 200, 100 and 50 m north of her home, whose circle has a 300 m radius
    assert layers["distance"]["to_zone_m"] == pytest.approx([600, 100, -100, -200, -250], abs=1.5)
    assert "Victim&#39;s home" in html or "Victim's home" in html
    assert 'id="export-form"' in html  # the order's court exports evidence
    assert 'id="export-form"' not in clients["west-officer"].get(f"/orders/{A}?{WINDOW}").get_data(as_text=True)


def test_her_track_needs_a_reason_on_record_and_the_reason_never_travels_in_a_url(site) -> None:  # type: ignore[no-untyped-def]
    _, clients, _, engine = site
    c = clients["west-officer"]
    csrf = page_csrf(c)
    window = {"from": "2026-11-21T09:00:00Z", "to": "2026-11-21T11:00:00Z"}
    short = c.post(f"/orders/{A}", data={"csrf": csrf, "reason": "because", **window})
    assert short.status_code == 200 and not _coordinates_in(short.get_data(as_text=True))
    assert c.post(f"/orders/{A}", data={"reason": "suspected breach at her home", **window}).status_code == 403  # no CSRF
    shown = c.post(f"/orders/{A}", data={"csrf": csrf, "reason": "suspected breach at her home", **window})
    html = shown.get_data(as_text=True)
    assert shown.status_code == 200 and _coordinates_in(html) and 'id="victim-shown"' in html
    layers = _map_data(html)
    assert len(layers["victim"]) == 1 and layers["distance"]["between_m"] is not None
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.access_audit.c.reason, t.access_audit.c.details).where(
            t.access_audit.c.actor == "west-officer", t.access_audit.c.action == "read_victim_data")).all()
    assert ("suspected breach at her home", "included") in {(r.reason, (r.details or {}).get("victim_positions"))
                                                            for r in rows}
    assert "suspected" not in "".join(re.findall(r'(?:href|action|src)="([^"]*)"', html))


def test_the_language_is_each_account_s_own_choice(site) -> None:  # type: ignore[no-untyped-def]
    _, clients, _, engine = site
    c = clients["west-officer"]
    assert "警情" in c.get("/board").get_data(as_text=True)  # Chinese first, with no preference stated
    english = c.get("/board", headers={"Accept-Language": "en-GB,en;q=0.9"}).get_data(as_text=True)
    assert "Alert board" in english and "警情" not in english
    assert c.post("/language", data={"locale": "en"}).status_code == 403  # no CSRF token: refused
    assert c.post("/language", data={"locale": "en", "csrf": page_csrf(c), "back": "/orders"}).headers[
        "Location"] == "/orders"
    assert "Alert board" in c.get("/board", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "警情" in clients["north-officer"].get("/board").get_data(as_text=True)  # only hers changed
    c.post("/language", data={"locale": "zh-CN", "csrf": page_csrf(c), "back": "//evil.example/"})
    assert "警情" in c.get("/board", headers={"Accept-Language": "en"}).get_data(as_text=True)
    with engine.connect() as conn:
        assert conn.execute(sa.select(t.accounts.c.locale).where(t.accounts.c.account_id == "west-officer")).scalar() \
            == "zh-CN"


def test_signing_out_ends_the_session_for_the_pages_and_the_api(site) -> None:  # type: ignore[no-untyped-def]
    app, clients, _, _ = site
    c = clients["west-sup"]
    cookie = session_cookie(c)
    assert c.post("/signout", data={"csrf": page_csrf(c)}).headers["Location"] == "/signin"
    again = app.test_client()
    again.set_cookie("stayaway_session", cookie)
    assert again.get("/board").status_code == 302 and again.get("/api/v1/alerts").status_code == 401


def test_leaflet_and_every_script_come_from_the_app_itself(site) -> None:  # type: ignore[no-untyped-def]
    _, clients, _, _ = site
    c = clients["xinjin-judge"]
    with c.get("/static/leaflet/leaflet.js") as js:
        assert js.status_code == 200 and b"Leaflet" in js.data[:2000]
    with c.get("/static/leaflet/leaflet.css") as css:
        assert css.status_code == 200
    for path in ("/board", "/orders", f"/orders/{A}?{WINDOW}", "/signin"):
        html = c.get(path).get_data(as_text=True)
        for src in re.findall(r'(?:src|href)="([^"]+)"', html):
            assert src.startswith(("/", "#", "?")) or src == "data:,", (path, src)  # data:, the empty icon
            if src.startswith("/static/"):
                with c.get(src) as r:
                    assert r.status_code == 200, src


def test_times_are_shown_in_the_app_s_time_zone(site) -> None:  # type: ignore[no-untyped-def]
    _, clients, _, _ = site
    html = clients["xinjin-judge"].get(f"/orders/{A}?{WINDOW}", headers={"Accept-Language": "en"}).get_data(
        as_text=True)
    issued = datetime.fromisoformat(builders.order()["issued_at"]).astimezone(UTC)
    assert issued.hour != (issued.hour + 8) % 24
    assert f"{(issued.hour + 8) % 24}:{issued.minute:02d}" in html.replace(" ", " ")  # Asia/Shanghai: UTC+8


def test_no_page_opens_without_a_signed_in_person(world) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """Nobody, a device's credentials, an API token or a made-up cookie: every page sends to the sign-in."""
    client, headers, _ = world
    pages = ["/", "/board", "/orders", f"/orders/{A}", "/accountability"]
    for who in ("anonymous", "victim", "respondent", "police", "court", "supervisor", "bad_token"):
        for path in pages:
            r = client.get(path, headers=headers[who])
            assert r.status_code == 302 and r.headers["Location"].startswith(("/signin", "/board")), (who, path)
            assert not _coordinates_in(r.get_data(as_text=True))
        assert client.post(f"/orders/{A}", headers=headers[who], data={"reason": "a reason long enough"}).status_code == 302
    c = client.application.test_client()
    c.set_cookie("stayaway_session", "ss_" + "A" * 43)
    assert c.get("/board").status_code == 302 and c.get("/api/v1/orders").status_code == 401


def test_where_to_go_after_a_form_is_always_this_site(world, engine) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    client, _, _ = world
    secret = Auth(engine, lambda: NOW, PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)).create_account(
        "officer-r", PASSWORD, "police", "police-west").totp_secret
    c = client.application.test_client()
    form = c.get("/signin?next=/%09/evil.example/phish")
    token = re.search(r'name="csrf" value="([^"]+)"', form.get_data(as_text=True)).group(1)
    r = c.post("/signin?next=/%09/evil.example/phish", data={"csrf": token, "account": "officer-r",
                                                              "password": PASSWORD, "code": pyotp.TOTP(secret).at(NOW)})
    assert r.status_code == 302 and r.headers["Location"] == "/board"
    for back in ("//evil.example/", "/\\evil.example", "/\t/evil.example", "https://evil.example/", "/\n/x", ""):
        r = c.post("/language", data={"locale": "en", "csrf": page_csrf(c), "back": back})
        assert r.headers["Location"] == "/board", back
    assert c.post("/language", data={"locale": "en", "csrf": page_csrf(c), "back": "/orders?x=1"}).headers[
        "Location"] == "/orders?x=1"


def test_pages_carry_a_strict_content_security_policy_and_no_script_of_their_own(site) -> None:  # type: ignore[no-untyped-def]
    _, clients, _, _ = site
    c = clients["xinjin-judge"]
    for path in ("/board", "/orders", f"/orders/{A}?{WINDOW}", "/signin"):
        r = c.get(path)
        policy = r.headers["Content-Security-Policy"]
        assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy, path
        assert r.headers["Cache-Control"] == "no-store" and r.headers["Referrer-Policy"] == "no-referrer"
        html = r.get_data(as_text=True)
        inline = [m for m in re.findall(r"<script([^>]*)>(.*?)</script>", html, re.DOTALL)
                  if "src=" not in m[0] and 'type="application/json"' not in m[0]]
        assert inline == [] and not re.search(r"\son[a-z]+=", html), path  # nothing inline the policy would block


def test_odd_times_in_a_window_are_refused_not_a_server_error(site) -> None:  # type: ignore[no-untyped-def]
    _, clients, _, _ = site
    for window in ("to=0001-01-01T00:00", "from=9999-12-31T23:59&to=0001-01-01T00:00", "from=2026-13-01T00:00"):
        assert clients["xinjin-judge"].get(f"/orders/{A}?{window}").status_code == 200, window
        assert clients["west-sup"].get(f"/accountability?{window}").status_code == 200, window


def test_an_admin_sees_the_figures_not_the_cases(site) -> None:  # type: ignore[no-untyped-def]
    _, clients, alerts, _ = site
    admin = clients["root2"].get("/accountability").get_data(as_text=True)
    assert A not in admin and B not in admin and alerts[A] not in admin
    assert A in clients["west-sup"].get("/accountability").get_data(as_text=True)  # her agency's unanswered alert


def test_a_supervisor_s_live_stream_never_carries_her_position(engine) -> None:  # type: ignore[no-untyped-def]
    """The board's stream gives police and court officers the agency's messages as published (a panic's
    ``victim`` included: they answer it); a supervisor's stream leaves ``victim`` out."""
    import orjson

    from service.adapters.db.alerts_repo import OutboxItem
    from service.live import AlertFeed
    from service.web import WebDeps, create_app

    auth = Auth(engine, lambda: NOW, PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1))
    feed = AlertFeed()
    app = create_app(WebDeps(engine, lambda: {"ready": True}, None, auth, None, None, feed), {"TESTING": True})
    panic = {"alert_id": "a-1", "kind": "panic", "event": "raised", "agency_id": "police-west",
             "victim": {"lat": HER[0], "lon": HER[1], "acc": 10.0}, "respondent": {"lat": 30.5, "lon": 104.0}}
    seen = {}
    for role in ("police", "supervisor"):
        token = auth.create_token(f"west-{role}", role, "police-west")
        r = app.test_client().get("/api/v1/alerts/stream", headers={"Authorization": f"Bearer {token}"},
                                  buffered=False)
        events = iter(r.response)
        assert next(events).startswith(b"retry:")
        feed.publish([OutboxItem(1, 0, "stayaway/v1/agencies/police-west/alerts", orjson.dumps(panic))])
        chunk = next(events)
        r.close()
        seen[role] = orjson.loads(chunk.split(b"data: ", 1)[1])
    assert seen["police"] == panic
    assert seen["supervisor"] == {k: v for k, v in panic.items() if k != "victim"}


def test_sending_the_window_back_keeps_the_last_minute(site) -> None:  # type: ignore[no-untyped-def]
    """The window's fields hold minutes: the end is rounded up, so the form sent back as it came (a new
    window, a break-glass reason) still holds the reports of the minute the page was made in."""
    _, clients, _, _ = site
    c = clients["west-officer"]
    html = c.get(f"/orders/{A}?from=2026-11-21T09:00:00Z&to=2026-11-21T09:59:59Z").get_data(as_text=True)
    assert len(_map_data(html)["respondent"]) == 5  # his fixes are from 09:59:30 to 09:59:50
    end = re.search(r'name="to" id="to" value="([^"]+)"', html).group(1)
    assert end == "2026-11-21T18:00"  # 10:00 UTC in Asia/Shanghai
    again = c.get(f"/orders/{A}?from=2026-11-21T17:00&to={end}").get_data(as_text=True)
    assert len(_map_data(again)["respondent"]) == 5
