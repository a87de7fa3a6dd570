"""The Flask app on a real SQLite database, through Flask's test client."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from service.adapters.db.engine import make_engine, migrate
from service.importing import import_agencies, import_orders
from service.web import WebDeps, create_app
from tests.support import builders

T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


@pytest.fixture
def client(sqlite_url):  # type: ignore[no-untyped-def]
    engine = make_engine(sqlite_url)
    migrate(engine)
    import_agencies(engine, builders.AGENCIES, lambda: T0)
    import_orders(engine, [(builders.order(), "t")], lambda: T0)
    state = {"ready": False}
    app = create_app(WebDeps(make_engine(sqlite_url, writer=False), lambda: dict(state)), {"TESTING": True})
    yield app.test_client(), state
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
