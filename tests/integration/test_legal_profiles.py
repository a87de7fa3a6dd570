"""Legal profiles on a real database: through the API, and through ``stayaway orders import`` (issue 13, items 1
and 6). Court Xinjin names no profile (the law in force, prc-advl-2016); court Pidu follows the expert draft;
court Chengdu is the next higher court."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from click.testing import CliRunner

from service.adapters.db import history_repo
from service.adapters.db import schema as t
from service.adapters.db.engine import make_engine, migrate
from service.auth import Auth
from service.cli import main
from service.errors import InvalidInput
from service.importing import import_agencies, import_orders
from service.order_admin import OrderAdmin
from service.web import WebDeps, create_app
from tests.integration.test_web import Client
from tests.support import builders

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
ORDER = "PSO-2026-0001"


def agencies(xinjin: str | None = None) -> dict[str, Any]:
    body = copy.deepcopy(builders.AGENCIES)
    if xinjin is not None:
        body["features"][2]["properties"]["legal_profile"] = xinjin
    body["features"] += [
        {"type": "Feature", "geometry": None, "properties": {"agency_id": "court-pidu", "name": "Pidu court",
                                                             "kind": "court", "legal_profile": "expert-draft"}},
        {"type": "Feature", "geometry": None, "properties": {"agency_id": "court-chengdu", "name": "Chengdu court",
                                                             "kind": "court"}}]
    return body


def pidu(n: int, **overrides: Any) -> dict[str, Any]:
    return builders.order_for(n, court="court-pidu", **overrides) | {"order_id": f"PSO-PIDU-{n:04d}"}


@pytest.fixture
def world(sqlite_url):  # type: ignore[no-untyped-def]
    engine = make_engine(sqlite_url)
    migrate(engine)
    import_agencies(engine, agencies(), lambda: T0)
    import_orders(engine, [(builders.order(), "a.json")], lambda: T0)
    auth = Auth(engine, lambda: datetime.now(UTC), PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1))
    tokens = {"court": auth.create_token("court-desk", "court", "court-xinjin"),
              "pidu": auth.create_token("pidu-desk", "court", "court-pidu")}
    app = create_app(WebDeps(make_engine(sqlite_url, writer=False), lambda: {"ready": True}, None, auth,
                             OrderAdmin(engine, lambda: datetime.now(UTC))), {"TESTING": True})
    yield Client(app, tokens), engine
    engine.dispose()


def stored(engine) -> tuple[Any, ...]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        row = conn.execute(sa.select(t.orders.c.type, t.orders.c.expires_at, t.orders.c.issued_at, t.orders.c.version,
                                     t.orders.c.body).where(t.orders.c.order_id == ORDER)).one()
        events = [e["event"] for e in history_repo.order_history(conn, ORDER)]
    return (*row, events)


def error_of(r) -> tuple[int, str, str | None, str]:  # type: ignore[no-untyped-def]
    e = r.get_json()["error"]
    return r.status_code, e["code"], e.get("field"), e["message"]


# -- the finding: re-importing a file changed the order's legal fields -------------------------------------------

def test_re_importing_a_file_never_changes_an_order_s_legal_fields(world) -> None:  # type: ignore[no-untyped-def]
    _, engine = world
    before = stored(engine)
    changes = [({"expires_at": "2041-11-20T09:00:00Z"}, "expires_at", "POST /api/v1/orders/PSO-2026-0001/extend"),
               ({"type": "temporary"}, "type", "supersedes"),
               ({"type": "temporary", "expires_at": None}, "type", "supersedes"),
               ({"expires_at": None}, "expires_at", "POST /api/v1/orders/PSO-2026-0001/extend"),
               ({"issued_at": "2026-11-19T09:00:00Z"}, "issued_at", "POST /api/v1/orders"),
               ({"court": "court-pidu"}, "court", "another court")]
    for change, field, step in changes:
        with pytest.raises(InvalidInput) as refused:
            import_orders(engine, [(builders.order(**change), "again.json")], lambda: T0 + timedelta(hours=1))
        assert refused.value.field == field and step in str(refused.value) and "again.json" in str(refused.value)
        assert stored(engine) == before  # nothing of it was stored: no version, no "modified"


def test_the_command_refuses_the_2041_file_and_names_the_extension(world, sqlite_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, engine = world
    before = stored(engine)
    path = tmp_path / "order-2041.json"
    path.write_text(__import__("json").dumps(builders.order(expires_at="2041-11-20T09:00:00Z")))
    result = CliRunner().invoke(main, ["orders", "import", str(path), "--db", sqlite_url])
    assert result.exit_code == 2
    assert "expires_at changes only through the court's extension: POST /api/v1/orders/PSO-2026-0001/extend" in \
        result.output and "(field: expires_at)" in result.output
    assert stored(engine) == before


def test_a_content_change_by_import_is_a_modification_with_its_file_and_reason_on_record(world, sqlite_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    c, engine = world
    path = tmp_path / "hearing-30-nov.json"
    path.write_text(__import__("json").dumps(builders.order(min_distance_m=800)))
    result = CliRunner().invoke(main, ["orders", "import", str(path), "--db", sqlite_url, "--reason", "hearing of 30 Nov"])
    assert result.exit_code == 0, result.output
    history = c.as_("court").get(f"/api/v1/orders/{ORDER}/history").get_json()["history"]
    last = history[-1]
    assert (last["event"], last["reason"], last["version"]) == ("modified", "imported from hearing-30-nov.json: "
                                                                "hearing of 30 Nov", 2)
    assert last["details"]["changed"] == ["min_distance_m"] and last["details"]["source"] == str(path)
    versions = c.as_("court").get(f"/api/v1/orders/{ORDER}/versions").get_json()["versions"]
    assert versions[-1]["reason"] == "imported from hearing-30-nov.json: hearing of 30 Nov"
    assert versions[-1]["source"] == str(path)


# -- the term at issue ---------------------------------------------------------------------------------------------

def test_a_ten_year_order_is_refused_under_the_law_in_force_and_a_year_is_accepted_for_a_draft_court(world) -> None:  # type: ignore[no-untyped-def]
    c, engine = world
    ten_years = builders.order_for(3, expires_at="2036-11-20T09:00:00Z")
    status, code, field, message = error_of(c.as_("court").post("/api/v1/orders", ten_years))
    assert (status, code, field) == (409, "term_too_long", "expires_at")
    assert "prc-advl-2016" in message and "ADVL Art. 30" in message and "2027-05-20T09:00:00Z" in message
    one_year = builders.order_for(3, expires_at="2027-11-20T09:00:00Z")
    assert error_of(c.as_("court").post("/api/v1/orders", one_year))[1] == "term_too_long"
    assert c.as_("pidu").post("/api/v1/orders", pidu(4, expires_at="2027-11-20T09:00:00Z")).status_code == 201
    status, code, _, message = error_of(c.as_("pidu").post("/api/v1/orders", pidu(5, expires_at="2027-11-20T09:00:01Z")))
    assert (status, code) == (409, "term_too_long") and "expert-draft" in message and "draft Art. 51" in message
    with engine.connect() as conn:
        ids = set(conn.execute(sa.select(t.orders.c.order_id)).scalars())
    assert ids == {ORDER, "PSO-PIDU-0004"}
    with pytest.raises(InvalidInput) as by_file:  # the same through a file
        import_orders(engine, [(ten_years, "ten.json")], lambda: T0)
    assert by_file.value.field == "expires_at" and "term_too_long" in str(by_file.value)


def test_an_ordinary_order_without_expiry_gets_its_profile_s_term(world) -> None:  # type: ignore[no-untyped-def]
    c, engine = world
    assert c.as_("court").post("/api/v1/orders", builders.order_for(6, expires_at=None)).status_code == 201
    assert c.as_("pidu").post("/api/v1/orders", pidu(7, expires_at=None)).status_code == 201
    import_orders(engine, [(builders.order_for(8, expires_at=None), "open.json")], lambda: T0)
    assert c.as_("court").get("/api/v1/orders/PSO-T-0006").get_json()["expires_at"].startswith("2027-05-20T09:00:00")
    assert c.as_("pidu").get("/api/v1/orders/PSO-PIDU-0007").get_json()["expires_at"].startswith("2027-11-20T09:00")
    assert c.as_("court").get("/api/v1/orders/PSO-T-0008").get_json()["expires_at"].startswith("2027-05-20T09:00:00")
    with engine.connect() as conn:
        body = conn.execute(sa.select(t.orders.c.body).where(t.orders.c.order_id == "PSO-T-0006")).scalar()
    assert body["expires_at"].startswith("2027-05-20T09:00:00")  # the order's own body says when it ends


def test_an_agencies_file_naming_an_unknown_profile_is_refused(world) -> None:  # type: ignore[no-untyped-def]
    _, engine = world
    with pytest.raises(InvalidInput) as refused:
        import_agencies(engine, agencies("lenient"), lambda: T0)
    assert refused.value.field == "features[2].properties.legal_profile" and "prc-advl-2016" in str(refused.value)


def test_a_stored_order_beyond_its_court_s_new_profile_is_flagged_to_the_court_once_and_kept(sqlite_url) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(sqlite_url)
    migrate(engine)
    import_agencies(engine, agencies("expert-draft"), lambda: T0)
    import_orders(engine, [(builders.order(expires_at="2027-11-20T09:00:00Z"), "a.json")], lambda: T0)
    for _ in range(2):  # court Xinjin drops the draft: the law in force holds, twice imported
        import_agencies(engine, agencies(), lambda: T0 + timedelta(days=1))
    import_orders(engine, [(builders.order(expires_at="2027-11-20T09:00:00Z", min_distance_m=700), "b.json")],
                  lambda: T0 + timedelta(days=2))  # its content still changes; its term is the court's to decide
    with engine.connect() as conn:
        history = history_repo.order_history(conn, ORDER)
        row = conn.execute(sa.select(t.orders.c.status, t.orders.c.expires_at).where(t.orders.c.order_id == ORDER)).one()
        notices = [r.payload for r in conn.execute(sa.select(t.outbox.c.topic, t.outbox.c.payload))
                   if r.topic.endswith("court-xinjin/notices") and b"term_flagged" in r.payload]
    engine.dispose()
    flagged = [h for h in history if h["event"] == "term_flagged"]
    assert len(flagged) == 1 and flagged[0]["details"]["profile"] == "prc-advl-2016"
    assert "ADVL Art. 30" in flagged[0]["details"]["why"]
    assert row.status == "active" and row.expires_at == datetime(2027, 11, 20, 9, tzinfo=UTC)  # never shortened
    assert len(notices) == 1 and b'"order_id":"PSO-2026-0001"' in notices[0]


# -- decision dates ----------------------------------------------------------------------------------------------

def test_a_cancellation_ends_the_order_at_the_court_s_decision_date(world) -> None:  # type: ignore[no-untyped-def]
    c, _ = world
    url = f"/api/v1/orders/{ORDER}/cancel"
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    for when in ("2026-11-19T09:00:00Z", future):
        status, code, field, _ = error_of(c.as_("court").post(url, {"reason": "set aside", "decided_at": when}))
        assert (status, code, field) == (409, "bad_decision_date", "decided_at")
    status, code, field, _ = error_of(c.as_("court").post(url, {"reason": "set aside", "decided_at": "last week"}))
    assert (status, code, field) == (400, "validation", "decided_at")
    done = c.as_("court").post(url, {"reason": "set aside on appeal", "decided_at": "2026-11-25T10:00:00+08:00"})
    assert done.status_code == 200 and done.get_json()["ended_at"] == "2026-11-25T02:00:00.000Z"
    history = c.as_("court").get(f"/api/v1/orders/{ORDER}/history").get_json()["history"]
    assert history[-1]["event"] == "cancelled" and history[-1]["details"]["decided_at"] == "2026-11-25T02:00:00.000Z"


def test_without_a_decision_date_a_cancellation_ends_the_order_when_entered(world) -> None:  # type: ignore[no-untyped-def]
    c, _ = world
    before = datetime.now(UTC)
    done = c.as_("court").post(f"/api/v1/orders/{ORDER}/cancel", {"reason": "set aside"}).get_json()
    ended = datetime.fromisoformat(done["ended_at"].replace("Z", "+00:00"))
    assert before - timedelta(seconds=1) <= ended <= datetime.now(UTC)


def test_a_modification_is_in_force_from_its_decision_date(world) -> None:  # type: ignore[no-untyped-def]
    c, engine = world
    url = f"/api/v1/orders/{ORDER}/modify"
    done = c.as_("court").post(url, {"order": builders.order(min_distance_m=800), "reason": "hearing of 25 Nov",
                                     "decided_at": "2026-11-25T09:00:00Z"})
    assert done.status_code == 200 and done.get_json()["effective_from"] == "2026-11-25T09:00:00.000Z"
    versions = c.as_("court").get(f"/api/v1/orders/{ORDER}/versions").get_json()["versions"]
    assert versions[-1]["effective_from"] == "2026-11-25T09:00:00.000Z" and versions[-1]["recorded_at"] != \
        versions[-1]["effective_from"]
    with engine.connect() as conn:  # what the monitor reads for late reports
        earlier, current = history_repo.version_timelines(conn, [ORDER])[ORDER]
    assert current == datetime(2026, 11, 25, 9, tzinfo=UTC) and [e for e, _ in earlier] == [T0]
    older = c.as_("court").post(url, {"order": builders.order(min_distance_m=900), "reason": "earlier ruling",
                                      "decided_at": "2026-11-24T09:00:00Z"})
    assert error_of(older)[:3] == (409, "bad_decision_date", "decided_at")  # versions follow one another


def test_an_extension_carries_its_decision_date_and_the_draft_extends_once_by_a_year(world) -> None:  # type: ignore[no-untyped-def]
    c, _ = world
    assert c.as_("pidu").post("/api/v1/orders", pidu(9, expires_at="2027-11-20T09:00:00Z")).status_code == 201
    url = "/api/v1/orders/PSO-PIDU-0009/extend"
    too_long = c.as_("pidu").post(url, {"expires_at": "2028-11-20T09:00:01Z", "reason": "risk"})
    assert error_of(too_long)[:2] == (409, "extension_too_long") and "draft Art. 52" in error_of(too_long)[3]
    done = c.as_("pidu").post(url, {"expires_at": "2028-11-20T09:00:00Z", "reason": "risk",
                                    "decided_at": "2026-11-28T09:00:00Z"})
    assert done.status_code == 200 and done.get_json()["extensions"] == 1
    again = c.as_("pidu").post(url, {"expires_at": "2028-12-01T09:00:00Z", "reason": "risk"})
    assert error_of(again)[:2] == (409, "already_extended")
    history = c.as_("pidu").get("/api/v1/orders/PSO-PIDU-0009/history").get_json()["history"]
    assert history[-1]["details"]["decided_at"] == "2026-11-28T09:00:00.000Z"


def test_the_end_of_an_application_carries_its_decision_date(world) -> None:  # type: ignore[no-untyped-def]
    c, _ = world
    temporary = builders.order_for(10, type="temporary", expires_at=None)
    assert c.as_("court").post("/api/v1/orders", temporary).status_code == 201
    done = c.as_("court").post("/api/v1/orders/PSO-T-0010/end", {"outcome": "withdrawn", "reason": "she withdrew",
                                                                  "decided_at": "2026-11-26T09:00:00Z"})
    assert done.status_code == 200 and done.get_json()["ended_at"] == "2026-11-26T09:00:00.000Z"


# -- reconsideration --------------------------------------------------------------------------------------------

def test_reconsideration_under_the_law_in_force_once_within_five_days_at_the_issuing_court(world) -> None:  # type: ignore[no-untyped-def]
    c, _ = world
    url = f"/api/v1/orders/{ORDER}/reconsideration"
    late = c.as_("court").post(url, {"reason": "respondent applied", "filed_at": "2026-11-25T09:00:01Z"})
    status, code, field, message = error_of(late)
    assert (status, code, field) == (409, "reconsideration_window", "filed_at") and "ADVL Art. 31" in message
    elsewhere = c.as_("court").post(url, {"reason": "respondent applied", "filed_at": "2026-11-22T09:00:00Z",
                                          "court": "court-chengdu"})
    assert error_of(elsewhere)[:3] == (409, "reconsideration_court", "court")
    filed = c.as_("court").post(url, {"reason": "respondent applied", "filed_at": "2026-11-22T09:00:00Z"})
    assert filed.status_code == 200 and filed.get_json()["status"] == "active" and filed.get_json()["monitored"]
    assert filed.get_json()["court"] == "court-xinjin"
    twice = c.as_("court").post(url, {"reason": "again", "filed_at": "2026-11-23T09:00:00Z"})
    assert error_of(twice)[:2] == (409, "reconsideration_once")
    decision = f"/api/v1/orders/{ORDER}/reconsideration/decision"
    bad = c.as_("court").post(decision, {"outcome": "suspended", "reason": "x"})
    assert error_of(bad)[:2] == (409, "bad_outcome")
    upheld = c.as_("court").post(decision, {"outcome": "upheld", "reason": "no new facts",
                                            "decided_at": "2026-11-27T09:00:00Z"})
    assert upheld.status_code == 200 and upheld.get_json()["status"] == "active"
    assert error_of(c.as_("court").post(decision, {"outcome": "upheld", "reason": "x"}))[:2] == (409, "no_reconsideration")
    history = c.as_("court").get(f"/api/v1/orders/{ORDER}/history").get_json()["history"]
    assert [h["event"] for h in history][-2:] == ["reconsideration", "reconsideration_decided"]
    assert history[-1]["details"]["outcome"] == "upheld"
    assert c.as_("court").get(f"/api/v1/orders/{ORDER}").get_json()["status"] == "active"


def test_reconsideration_under_the_draft_at_the_higher_court_and_a_cancelling_outcome(world) -> None:  # type: ignore[no-untyped-def]
    c, _ = world
    assert c.as_("pidu").post("/api/v1/orders", pidu(11, expires_at="2027-11-20T09:00:00Z")).status_code == 201
    url = "/api/v1/orders/PSO-PIDU-0011/reconsideration"
    own = c.as_("pidu").post(url, {"reason": "respondent applied"})
    assert error_of(own)[:3] == (409, "reconsideration_court", "court")
    unknown = c.as_("pidu").post(url, {"reason": "respondent applied", "court": "court-nowhere"})
    assert error_of(unknown)[:3] == (400, "validation", "court")
    police = c.as_("pidu").post(url, {"reason": "respondent applied", "court": "police-west"})
    assert error_of(police)[:3] == (400, "validation", "court")
    assert c.as_("pidu").post("/api/v1/orders/PSO-PIDU-0011/service", {
        "party": "respondent", "served_at": "2026-11-21T09:00:00Z"}).status_code == 200
    late = c.as_("pidu").post(url, {"reason": "respondent applied", "court": "court-chengdu",
                                    "filed_at": "2026-12-01T09:00:01Z"})  # 10 days of his receipt
    assert error_of(late)[:2] == (409, "reconsideration_window")
    filed = c.as_("pidu").post(url, {"reason": "respondent applied", "court": "court-chengdu",
                                     "filed_at": "2026-11-30T09:00:00Z"})
    assert filed.status_code == 200 and filed.get_json()["window_ends"] == "2026-12-01T09:00:00.000Z"
    done = c.as_("pidu").post("/api/v1/orders/PSO-PIDU-0011/reconsideration/decision", {
        "outcome": "cancelled", "reason": "set aside by the Chengdu court", "decided_at": "2026-12-01T12:00:00Z"})
    assert done.status_code == 200 and done.get_json()["status"] == "cancelled"
    assert done.get_json()["ended_at"] == "2026-12-01T12:00:00.000Z"
    history = c.as_("pidu").get("/api/v1/orders/PSO-PIDU-0011/history").get_json()["history"]
    assert [h["event"] for h in history][-2:] == ["reconsideration_decided", "cancelled"]
    service = c.as_("pidu").get("/api/v1/orders/PSO-PIDU-0011/service").get_json()
    assert service["unserved"] == ["victim", "police", "committee", "anti_dv_committee"]  # the draft's list


# -- orders with no decided term (review item 6) -----------------------------------------------------------------

def test_a_draft_court_s_temporary_order_is_held_to_the_ordinary_year(world) -> None:  # type: ignore[no-untyped-def]
    c, engine = world
    ten_years = pidu(11, type="temporary", expires_at="2036-11-20T09:00:00Z")
    status, code, field, message = error_of(c.as_("pidu").post("/api/v1/orders", ten_years))
    assert (status, code, field) == (409, "term_too_long", "expires_at")
    assert "expert-draft" in message and "draft Art. 51" in message and "stayaway's reading" in message
    assert "2027-11-20T09:00:00Z" in message
    assert c.as_("pidu").post("/api/v1/orders", pidu(12, type="temporary", expires_at="2027-11-20T09:00:00Z")
                              ).status_code == 201
    assert c.as_("pidu").post("/api/v1/orders", pidu(13, type="temporary", expires_at=None)).status_code == 201
    with pytest.raises(InvalidInput) as by_file:  # the same through a file
        import_orders(engine, [(ten_years, "ten.json")], lambda: T0)
    assert by_file.value.field == "expires_at" and "term_too_long" in str(by_file.value)
    with engine.connect() as conn:
        ids = set(conn.execute(sa.select(t.orders.c.order_id)).scalars())
    assert ids == {ORDER, "PSO-PIDU-0012", "PSO-PIDU-0013"}


def test_an_order_undecided_beyond_its_court_s_term_is_flagged_to_the_court_once_and_kept(sqlite_url) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(sqlite_url)
    migrate(engine)
    import_agencies(engine, agencies(), lambda: T0)
    temporary = builders.order_for(21, type="temporary", expires_at=None)  # court Xinjin: the law in force
    draft = pidu(22, type="temporary", expires_at=None)  # court Pidu: the draft's year
    import_orders(engine, [(temporary, "t.json"), (draft, "d.json")], lambda: T0)

    def flags() -> tuple[dict[str, list[Any]], list[bytes]]:
        with engine.connect() as conn:
            history = {o: [h for h in history_repo.order_history(conn, o) if h["event"] == "term_flagged"]
                       for o in ("PSO-T-0021", "PSO-PIDU-0022")}
            notices = [r.payload for r in conn.execute(sa.select(t.outbox.c.topic, t.outbox.c.payload))
                       if r.topic.endswith("/notices") and b"term_flagged" in r.payload]
        return history, notices

    import_agencies(engine, agencies(), lambda: datetime(2027, 5, 20, 9, tzinfo=UTC))  # 6 months: not yet
    assert flags() == ({"PSO-T-0021": [], "PSO-PIDU-0022": []}, [])
    for days in (1, 2):  # past 6 months, twice: flagged once
        import_agencies(engine, agencies(), lambda days=days: datetime(2027, 5, 20, 9, tzinfo=UTC) + timedelta(days=days))
    history, notices = flags()
    assert len(history["PSO-T-0021"]) == 1 and history["PSO-PIDU-0022"] == []  # the draft's year has not run
    details = history["PSO-T-0021"][0]["details"]
    assert details["undecided"] is True and details["profile"] == "prc-advl-2016" and "ADVL Art. 30" in details["why"]
    assert len(notices) == 1 and b'"order_id":"PSO-T-0021"' in notices[0] and b'"undecided":true' in notices[0]
    import_orders(engine, [], lambda: datetime(2027, 11, 21, tzinfo=UTC))  # past the draft's year
    history, notices = flags()
    assert len(history["PSO-PIDU-0022"]) == 1 and len(history["PSO-T-0021"]) == 1 and len(notices) == 2
    assert "draft Art. 51" in history["PSO-PIDU-0022"][0]["details"]["why"]
    with engine.connect() as conn:  # never ended, never given an expiry: the court decides
        rows = conn.execute(sa.select(t.orders.c.status, t.orders.c.expires_at)).all()
    engine.dispose()
    assert {tuple(r) for r in rows} == {("active", None)}
