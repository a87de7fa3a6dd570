"""The end of an order through a real broker and a real ``stayaway serve`` (issue 13: protection never stops
silently), and the police agency that answers for an order whose places no jurisdiction holds.

- An order expires a few seconds after the serve took it: its court, its police and her phone are told
  (``order_ended``); in the grace after it her panic still reaches the police (``after_end``), and his
  tracker walking into her home raises nothing.
- An order whose zones lie outside every imported jurisdiction, with ``police_agency_id``: its breach reaches
  that agency, and her phone's notice names it; without ``police_agency_id`` the import refuses it.
- The court's cancellation through the API is told the same way as an expiry.

Device times are the present (a clock ahead of the server's is not trusted).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from service.adapters.db import schema as t
from simulators import SimDevice
from simulators.walk import offset
from tests.e2e.conftest import write_json
from tests.support import builders
from tests.support.brokers import BrokerInfo
from tests.support.serve import Listener

ORDER_ID = builders.ORDER["order_id"]
POLICE, COURT, PHONE = "police-west", "court-xinjin", "phone-001"
MOVED_NORTH_DEG = 0.3  # about 33 km north of the example order: outside every jurisdiction of builders.AGENCIES


class Notices(Listener):
    """Every agency's and every device's ``notices`` topic (a redelivery is the same payload)."""

    def __init__(self, broker: BrokerInfo) -> None:
        super().__init__(broker, ["stayaway/v1/agencies/+/notices", "stayaway/v1/devices/+/notices"], "notices")


def agency_notices(agency: str) -> str:
    return f"stayaway/v1/agencies/{agency}/notices"


def phone_notices(phone: str = PHONE) -> str:
    return f"stayaway/v1/devices/{phone}/notices"


def wait_for(predicate: Callable[[], Any], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def walk_in(tracker: SimDevice, home: tuple[float, float] = builders.HOME) -> None:
    """Two fixes, 900 m then 100 m north of the home's centre (300 m radius), dated now."""
    now = datetime.now(UTC)
    for i, north in enumerate((900, 100)):
        tracker.location(*offset(*home, north, 0), acc=5.0, ts=now - timedelta(seconds=1 - i))


def processed(serve, n: int, base: int, timeout: float = 15.0) -> bool:  # type: ignore[no-untyped-def]
    """The serve has committed ``n`` accepted messages more than ``base`` (its ``accepted`` counter)."""
    return wait_for(lambda: serve.counters().get("accepted", 0) >= base + n, timeout)


def assert_end_announced(notices: Notices, status: str, ended_at: datetime | None = None) -> dict[str, Any]:
    """The court and the police got ``order_ended`` with ``status``; her phone a notice of topic ``order_ended``.
    Returns the phone's notice."""
    assert wait_for(lambda: notices.on(agency_notices(COURT), kind="order_ended")
                    and notices.on(agency_notices(POLICE), kind="order_ended")
                    and notices.on(phone_notices(), topic="order_ended"), timeout=20), notices.messages
    for agency in (COURT, POLICE):
        [told] = notices.on(agency_notices(agency), kind="order_ended")
        assert (told["order_id"], told["status"]) == (ORDER_ID, status), told
        if ended_at is not None:
            assert ts(told["ended_at"]) == ended_at, told
        assert ts(told["grace_until"]) >= ts(told["ended_at"]) + timedelta(hours=71), told  # her panic: 72 h more
    assert notices.on(agency_notices("police-east"), kind="order_ended") == []  # nothing of it reached the east
    [phone] = notices.on(phone_notices(), topic="order_ended")
    assert (phone["order_id"], phone["locale"], phone["kind"]) == (ORDER_ID, "zh", "info"), phone
    assert ORDER_ID in phone["text"] and "110" in phone["text"], phone
    assert "lat" not in phone and "lon" not in phone
    return phone


def test_an_expiry_is_announced_her_panic_still_reaches_police_his_walk_raises_nothing(  # type: ignore[no-untyped-def]
        broker, console, devices, serve_factory, sqlite_url, tmp_path) -> None:
    notices = Notices(broker)
    try:
        serve = serve_factory(sqlite_url)
        serve.cli("agencies", "import", write_json(tmp_path / "agencies.geojson", builders.AGENCIES))
        serve.start()
        tracker, phone = devices()
        # the order comes while the serve runs (taken within a second) and expires a few seconds later
        expires = (datetime.now(UTC) + timedelta(seconds=8)).replace(microsecond=0)
        body = builders.order(**builders.ZONES_ONLY, expires_at=builders.rfc3339(expires))
        serve.cli("orders", "import", write_json(tmp_path / "orders.json", [body]))
        assert datetime.now(UTC) < expires, "the import took too long to test an expiry after it"

        phone_notice = assert_end_announced(notices, "expired", expires)
        assert "保护令期限届满" in phone_notice["text"]  # why, in her language (Chinese by default)
        told = notices.on(agency_notices(POLICE), kind="order_ended")[0]
        assert ts(told["at"]) >= expires

        # in the grace: his tracker walks into her home, then (later, on the same session) reports again
        base = serve.counters().get("accepted", 0)
        walk_in(tracker)
        tracker.status(batt=80)
        assert processed(serve, 3, base), serve.counters()
        # her panic, from home: still raised, to the police of her position and the court, marked after_end
        press = phone.panic(*offset(*builders.HOME, 10, 10), acc=12.0)
        assert console.wait_for(lambda: len(console.where(kind="panic", event="raised")) == 2), console.messages
        panics = {m["agency_id"]: m for m in console.where(kind="panic", event="raised")}
        assert set(panics) == {POLICE, COURT}
        police = panics[POLICE]
        assert police["after_end"] is True and police["order_status"] == "expired", police
        assert ts(police["order_ended_at"]) == expires and police["occurred_at"] == press["ts"]
        assert police["victim"]["lat"] == press["lat"]  # police still see where she is
        time.sleep(1.0)  # the dispatcher publishes what a batch raised right after its commit
        assert console.where(kind="zone_breach") == [], console.where(kind="zone_breach")
        assert [m for m in console.messages if m[1]["kind"] != "panic"] == [], console.messages
        # nothing told to her phone about his walk either, and nothing ever to his tracker
        assert notices.on(phone_notices(), topic="breach") == []
        assert tracker.commands == [] and tracker.notices == []
    finally:
        notices.close()


def moved_zones(north_deg: float = MOVED_NORTH_DEG) -> dict[str, Any]:
    """The example order's zones, ``north_deg`` degrees further north."""
    zones = copy.deepcopy(builders.ORDER["zones"])
    for f in zones["features"]:
        g = f["geometry"]
        if g["type"] == "Point":
            g["coordinates"][1] += north_deg
        else:
            g["coordinates"] = [[[x, y + north_deg] for x, y in ring] for ring in g["coordinates"]]
    return zones


def test_an_order_outside_every_jurisdiction_reaches_the_police_it_names_or_is_refused(  # type: ignore[no-untyped-def]
        broker, console, devices, serve_factory, sqlite_url, tmp_path) -> None:
    notices = Notices(broker)
    try:
        body = builders.order(**builders.ZONES_ONLY, zones=moved_zones(), police_agency_id="police-east")
        serve = serve_factory(sqlite_url)
        serve.cli("agencies", "import", write_json(tmp_path / "agencies.geojson", builders.AGENCIES))
        serve.cli("orders", "import", write_json(tmp_path / "orders.json", [body]))
        assert outside_warnings(sqlite_url) == ["home", "work"]  # its set-up warnings, stored
        serve.start()
        tracker, _ = devices()
        home = (builders.HOME[0] + MOVED_NORTH_DEG, builders.HOME[1])
        walk_in(tracker, home)
        assert console.wait_for(lambda: len(console.where(kind="zone_breach", event="raised")) == 2), console.messages
        breach = {m["agency_id"]: m for m in console.where(kind="zone_breach", event="raised")}
        assert set(breach) == {"police-east", COURT}  # the police it names: no jurisdiction holds her home
        assert breach["police-east"]["zone"]["zone_id"] == "home" and breach["police-east"]["owner"] == "police-east"
        assert wait_for(lambda: notices.on(phone_notices(), topic="breach")), notices.messages
        [told] = notices.on(phone_notices(), topic="breach")
        assert "已通知警方（East station）和法院" in told["text"], told  # who was truly reached, by name
        assert told["locale"] == "zh" and told["alert_id"] == breach[COURT]["alert_id"]

        # the same order without police_agency_id: no police agency would answer for it
        refused = builders.order_for(2, **builders.ZONES_ONLY, zones=moved_zones())
        done = serve.cli("orders", "import", write_json(tmp_path / "refused.json", [refused]), check=False)
        assert done.returncode != 0, done.stdout + done.stderr
        assert "no police agency" in (done.stdout + done.stderr).lower(), done.stdout + done.stderr
        status, _ = serve.get(f"/api/v1/orders/{refused['order_id']}", token=serve.add_token("court", "court", COURT))
        assert status == 404
    finally:
        notices.close()


def outside_warnings(db_url: str, order_id: str = ORDER_ID) -> list[str]:
    """The zones named by the order's stored ``zone_outside_jurisdictions`` set-up warnings."""
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            stored = conn.execute(sa.select(t.orders.c.warnings).where(t.orders.c.order_id == order_id)).scalar_one()
    finally:
        engine.dispose()
    return sorted(next(z for z in ("home", "work") if f"zone {z} " in w["message"])
                  for w in stored or () if w["code"] == "zone_outside_jurisdictions")


def import_outside(serve_factory, sqlite_url: str, tmp_path) -> tuple[Any, str]:  # type: ignore[no-untyped-def]
    serve = serve_factory(sqlite_url)
    serve.cli("agencies", "import", write_json(tmp_path / "agencies.geojson", builders.AGENCIES))
    return serve, write_json(tmp_path / "orders.json", [
        builders.order(**builders.ZONES_ONLY, zones=moved_zones(), police_agency_id="police-east")])


def test_re_importing_an_order_outside_every_jurisdiction_keeps_its_stored_warnings(  # type: ignore[no-untyped-def]
        serve_factory, sqlite_url, tmp_path) -> None:
    """Operators import the same file again (nothing changed): the stored set-up warnings must stay."""
    serve, path = import_outside(serve_factory, sqlite_url, tmp_path)
    serve.cli("orders", "import", path)
    assert outside_warnings(sqlite_url) == ["home", "work"]
    serve.cli("orders", "import", path)
    assert outside_warnings(sqlite_url) == ["home", "work"], "re-importing the same order dropped its warnings"


def test_the_import_prints_the_zone_outside_jurisdictions_warnings(  # type: ignore[no-untyped-def]
        serve_factory, sqlite_url, tmp_path) -> None:
    """``stayaway orders import`` prints every set-up warning of what it imported (``warning [code] message``):
    the operator is its only reader (the API does not show them)."""
    serve, path = import_outside(serve_factory, sqlite_url, tmp_path)
    done = serve.cli("orders", "import", path)
    assert done.stdout.count("warning [zone_outside_jurisdictions]") == 2, done.stdout


def test_a_cancellation_through_the_api_is_announced_like_an_expiry(  # type: ignore[no-untyped-def]
        broker, console, devices, loaded, sqlite_url) -> None:
    notices = Notices(broker)
    try:
        serve = loaded(sqlite_url)
        court = serve.add_token("court-desk", "court", COURT)
        serve.start()
        _, phone = devices()
        status, body = serve.post(f"/api/v1/orders/{ORDER_ID}/cancel", {"reason": "the court set it aside on appeal"},
                                  token=court)
        assert status == 200 and body["status"] == "cancelled", (status, body)
        phone_notice = assert_end_announced(notices, "cancelled", ts(body["ended_at"]))
        assert "法院撤销了保护令" in phone_notice["text"]
        told = notices.on(agency_notices(COURT), kind="order_ended")[0]
        assert told["reason"] == "the court set it aside on appeal"
        # in its grace her panic still reaches the police, marked so
        phone.panic(*offset(*builders.HOME, 10, 10), acc=12.0)
        assert console.wait_for(lambda: len(console.where(kind="panic", event="raised")) == 2), console.messages
        [police] = console.where(kind="panic", event="raised", agency_id=POLICE)
        assert police["after_end"] is True and police["order_status"] == "cancelled", police
    finally:
        notices.close()


def test_she_is_reminded_before_expiry_and_follows_her_panic_from_acknowledgement_to_outcome_in_english(  # type: ignore[no-untyped-def]
        broker, console, devices, serve_factory, sqlite_url, tmp_path) -> None:
    """Her notices through the broker (issue 13, items 2 and 5): the reminder before expiry (to court, police
    and her phone), and each step the police take on her panic, in her language, naming who acts."""
    notices = Notices(broker)
    try:
        serve = serve_factory(sqlite_url)
        serve.cli("agencies", "import", write_json(tmp_path / "agencies.geojson", builders.AGENCIES))
        expires = (datetime.now(UTC) + timedelta(days=10)).replace(microsecond=0)  # within 14 days: reminded now
        body = builders.order(**builders.ZONES_ONLY, expires_at=builders.rfc3339(expires))
        body["victim"] = {**body["victim"], "locale": "en-GB"}
        serve.cli("orders", "import", write_json(tmp_path / "orders.json", [body]))
        police = serve.add_token("west-desk", "police", POLICE)
        serve.start()
        assert wait_for(lambda: notices.on(phone_notices(), topic="reminder")
                        and notices.on(agency_notices(COURT), kind="expiry_reminder")
                        and notices.on(agency_notices(POLICE), kind="expiry_reminder"), timeout=20), notices.messages
        [reminder] = notices.on(phone_notices(), topic="reminder")
        assert reminder["locale"] == "en" and "extension" in reminder["text"] and ORDER_ID in reminder["text"]
        assert notices.on(agency_notices(COURT), kind="expiry_reminder")[0]["days_left"] in (9, 10)

        tracker, phone = devices()
        phone.panic(*offset(*builders.HOME, 10, 10), acc=12.0)
        assert console.wait_for(lambda: console.where(kind="panic", event="raised", agency_id=POLICE))
        alert_id = console.where(kind="panic", event="raised", agency_id=POLICE)[0]["alert_id"]
        for action, extra in (("acknowledge", {}), ("dispatch", {"unit": "car 12"}), ("on_scene", {}),
                              ("resolve", {"outcome": "victim_safe", "note": "she is with her sister"})):
            status, answer = serve.post(f"/api/v1/alerts/{alert_id}/{action}", extra, token=police)
            assert status == 200, (action, status, answer)
        topics = ["panic", "acknowledged", "dispatch", "on_scene", "outcome"]
        assert wait_for(lambda: all(notices.on(phone_notices(), topic=tp) for tp in topics), timeout=20), \
            notices.messages
        said = {tp: notices.on(phone_notices(), topic=tp)[0]["text"] for tp in topics}
        assert "Police (West station) and the court have been alerted." in said["panic"]
        assert "West station" in said["acknowledged"] and "West station" in said["dispatch"]
        assert "you were found safe" in said["outcome"]
        assert all(notices.on(phone_notices(), topic=tp)[0]["alert_id"] == alert_id for tp in topics[1:])
        assert tracker.notices == [] and tracker.commands == []  # nothing of it reaches his device
    finally:
        notices.close()
