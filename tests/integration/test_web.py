"""The Flask app on a real SQLite database, through Flask's test client."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from argon2 import PasswordHasher

from service.adapters.db.engine import make_engine, migrate
from service.auth import Auth
from service.importing import import_agencies, import_orders
from service.order_admin import OrderAdmin
from service.web import WebDeps, create_app
from tests.support import builders

T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


class Client:
    """Flask's test client with a Bearer token chosen per request (``as_``)."""

    def __init__(self, app, tokens: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
        self.c, self.tokens, self.who = app.test_client(), tokens, "court"

    def as_(self, who: str) -> Client:
        self.who = who
        return self

    def _h(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[self.who]}"} if self.who in self.tokens else {}

    def get(self, path: str):  # type: ignore[no-untyped-def]
        return self.c.get(path, headers=self._h())

    def post(self, path: str, body: object):  # type: ignore[no-untyped-def]
        return self.c.post(path, json=body, headers=self._h())


@pytest.fixture
def client(sqlite_url):  # type: ignore[no-untyped-def]
    engine = make_engine(sqlite_url)
    migrate(engine)
    import_agencies(engine, builders.AGENCIES, lambda: T0)
    import_orders(engine, [(builders.order(), "t")], lambda: T0)
    auth = Auth(engine, lambda: datetime.now(UTC), PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1))
    tokens = {"court": auth.create_token("court-desk", "court", "court-xinjin"),
              "police": auth.create_token("west-desk", "police", "police-west"),
              "east": auth.create_token("east-desk", "police", "police-east"),
              "supervisor": auth.create_token("west-sup", "supervisor", "police-west")}
    state = {"ready": False}
    app = create_app(WebDeps(make_engine(sqlite_url, writer=False), lambda: dict(state), None, auth,
                             OrderAdmin(engine, lambda: datetime.now(UTC))), {"TESTING": True})
    yield Client(app, tokens), state
    engine.dispose()


def test_healthz_is_503_until_ingest_is_subscribed(client) -> None:  # type: ignore[no-untyped-def]
    c, state = client
    assert c.get("/healthz").status_code == 503
    state["ready"] = True
    assert c.get("/healthz").status_code == 200


def test_orders_list_and_detail_never_show_zone_geometry(client) -> None:  # type: ignore[no-untyped-def]
    c, _ = client
    listing = c.get("/api/v1/orders").get_json()
    assert [o["order_id"] for o in listing["orders"]] == ["PSO-2026-0001"]
    detail = c.get("/api/v1/orders/PSO-2026-0001").get_json()
    assert detail["zones"] == [{"zone_id": "home", "kind": "home", "name": "Victim's home"},
                               {"zone_id": "work", "kind": "work", "name": "Victim's workplace"}]
    text = json.dumps(detail)
    assert "coordinates" not in text and "103.86" not in text and "30.43" not in text


def test_errors_are_json_with_a_code(client) -> None:  # type: ignore[no-untyped-def]
    c, _ = client
    missing = c.get("/api/v1/orders/PSO-NOPE")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"
    bad = c.get("/api/v1/alerts?status=bogus")
    assert bad.status_code == 400 and "status must be" in bad.get_json()["error"]["message"]
    assert c.get("/api/v1/alerts").get_json() == {"alerts": []}
    nobody = c.as_("nobody").get("/api/v1/orders")
    assert nobody.status_code == 401 and nobody.get_json()["error"]["code"] == "unauthorized"


def test_an_order_outside_the_principal_s_scope_is_as_unknown(client) -> None:  # type: ignore[no-untyped-def]
    c, _ = client
    west_only = builders.order_for(2)
    west_only["zones"] = {"type": "FeatureCollection", "features": [
        f for f in west_only["zones"]["features"] if f["properties"]["zone_id"] == "home"]}
    assert c.as_("court").post("/api/v1/orders", west_only).status_code == 201
    listed = {o["order_id"] for o in c.as_("police").get("/api/v1/orders").get_json()["orders"]}
    assert listed == {"PSO-2026-0001", "PSO-T-0002"}
    east = {o["order_id"] for o in c.as_("east").get("/api/v1/orders").get_json()["orders"]}
    assert east == {"PSO-2026-0001"}  # the example's workplace is in the east's area; order 2 has only a home
    assert c.as_("east").get("/api/v1/orders/PSO-T-0002").status_code == 404
    assert c.as_("east").get("/api/v1/orders/PSO-T-0002").get_json() == c.as_("east").get("/api/v1/orders/NOPE").get_json() | {
        "error": {"code": "not_found", "message": "no order PSO-T-0002"}}


def test_an_agency_sees_its_alerts_however_many_other_agencies_have(client, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    import sqlalchemy as sa

    from alerts import Alert, Kind, Severity, Status
    from service.adapters.db import alerts_repo
    from service.adapters.db import schema as t

    c, _ = client

    def alert(i: int, agency: str) -> dict:
        at = T0 + timedelta(seconds=i)
        a = Alert(f"alert-{agency}-{i:05d}", "PSO-2026-0001", Kind.BATTERY_LOW, Severity.WARNING, Status.OPEN, at, at,
                  last_event_at=at)
        return alerts_repo._alert_row(a, [agency, "court-xinjin"])

    engine = make_engine(sqlite_url)
    with engine.begin() as conn:
        conn.execute(sa.insert(t.alerts), [alert(0, "police-west")] + [alert(i, "police-east") for i in range(1, 1300)])
    engine.dispose()
    west = c.as_("police").get("/api/v1/alerts?status=all").get_json()["alerts"]
    assert [a["alert_id"] for a in west] == ["alert-police-west-00000"]  # behind 1,299 newer alerts of the east
    court = c.as_("court").get("/api/v1/alerts?status=all&limit=1000").get_json()["alerts"]
    assert len(court) == 1000 and court[0]["alert_id"] == "alert-police-east-01299"
    assert c.as_("court").get("/api/v1/alerts?limit=0").get_json()["error"]["field"] == "limit"
