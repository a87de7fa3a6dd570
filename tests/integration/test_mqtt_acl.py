"""``stayaway mqtt credentials`` against a real Mosquitto started with the files it writes."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from service.importing import import_agencies, import_orders
from service.mqtt_credentials import (
    AccountsSkipped,
    generate,
    mosquitto_hash,
    mosquitto_verify,
)
from tests.support import builders
from tests.support.brokers import free_port, wait_listening

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
needs_mosquitto = pytest.mark.skipif(MOSQUITTO is None and not os.environ.get("STAYAWAY_REQUIRE_ALL"),
                                     reason="mosquitto is not installed")


def test_the_hash_is_mosquitto_s_own_format() -> None:
    # written by `mosquitto_passwd -b` (Mosquitto 2.0.11) for the password "s3cret"
    theirs = "$7$101$2f3KJa3zjhmBN4o+$Ty2RB/cKNlLc5ZI9yGPdU2otLs/Ipk9nKd8zTMymUoYs2C6lAvvZ7aZv3PJYTpeUDpIqJlqSfBujeplLl2xM3g=="
    assert mosquitto_verify("s3cret", theirs) and not mosquitto_verify("s3cret!", theirs)
    salt = base64.b64decode("2f3KJa3zjhmBN4o+")
    assert mosquitto_hash("s3cret", salt) == theirs
    assert mosquitto_verify("x", mosquitto_hash("x")) and mosquitto_hash("x") != mosquitto_hash("x")  # salted
    assert not mosquitto_verify("x", "$6$not-ours") and not mosquitto_verify("x", "garbage")


@pytest.fixture
def accounts(engine, tmp_path: Path) -> dict[str, str]:  # type: ignore[no-untyped-def]
    import_agencies(engine, builders.AGENCIES, lambda: T0)
    second = builders.order_for(2)
    second["victim"]["owntracks_topic"] = "owntracks/bea/phone"  # her phone runs the OwnTracks app
    import_orders(engine, [(builders.order(), "a.json"), (second, "b.json")], lambda: T0)
    issued = generate(engine, lambda: T0, tmp_path / "mqtt")
    assert {i.username for i in issued} == {"trk-001", "phone-001", "trk-002", "phone-002", "police-west",
                                            "police-east", "court-xinjin", "bea", "stayaway"}
    again = generate(engine, lambda: T0, tmp_path / "mqtt")  # the files again: nobody's password changes
    assert again == []
    return {i.username: i.password for i in issued}


@pytest.fixture
def broker(accounts, tmp_path: Path) -> Iterator[int]:  # type: ignore[no-untyped-def]
    """A private Mosquitto with the generated password file and ACL (``mosquitto_with``)."""
    with mosquitto_with(tmp_path / "mqtt") as port:
        yield port


class Peer:
    def __init__(self, port: int, username: str, password: str) -> None:
        self.got: list[tuple[str, bytes]] = []
        self.connected = threading.Event()
        self.refused: int | None = None
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{username}-{uuid.uuid4().hex[:6]}",
                             protocol=mqtt.MQTTv311)
        self.c.username_pw_set(username, password)
        self.c.on_connect = self._on_connect
        self.c.on_message = lambda _c, _u, m: self.got.append((m.topic, m.payload))
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        self.connected.wait(5)

    def _on_connect(self, _c, _u, _f, reason, _p) -> None:  # type: ignore[no-untyped-def]
        if reason.is_failure:
            self.refused = reason.value
        self.connected.set()

    def subscribe(self, topic: str) -> None:
        done = threading.Event()
        self.c.on_subscribe = lambda *_a: done.set()
        self.c.subscribe(topic, qos=1)
        assert done.wait(5)

    def publish(self, topic: str, body: bytes = b"{}") -> None:
        self.c.publish(topic, body, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


@pytest.fixture
def peers(broker, accounts) -> Iterator:  # type: ignore[no-untyped-def]
    made: list[Peer] = []

    def make(username: str, password: str | None = None) -> Peer:
        p = Peer(broker, username, password if password is not None else accounts[username])
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


def settle() -> None:
    time.sleep(0.5)  # QoS 1 on loopback: what is allowed has arrived by then


@needs_mosquitto
def test_a_device_publishes_only_as_itself(peers) -> None:  # type: ignore[no-untyped-def]
    service = peers("stayaway")
    service.subscribe("stayaway/v1/devices/+/location")
    service.subscribe("stayaway/v1/devices/+/panic")
    tracker = peers("trk-001")
    tracker.publish("stayaway/v1/devices/trk-001/location", b"mine")
    tracker.publish("stayaway/v1/devices/phone-001/panic", b"a false panic in her name")
    tracker.publish("stayaway/v1/devices/trk-002/location", b"as another tracker")
    settle()
    assert service.got == [("stayaway/v1/devices/trk-001/location", b"mine")]


@needs_mosquitto
def test_no_device_reads_another_s_notices_or_commands_nor_everything(peers) -> None:  # type: ignore[no-untyped-def]
    respondent = peers("trk-001")
    respondent.subscribe("#")
    respondent.subscribe("stayaway/v1/devices/phone-001/notices")
    respondent.subscribe("stayaway/v1/agencies/+/alerts")
    other_phone = peers("phone-002")
    other_phone.subscribe("stayaway/v1/devices/phone-001/notices")
    victim = peers("phone-001")
    victim.subscribe("stayaway/v1/devices/phone-001/notices")
    service = peers("stayaway")
    service.publish("stayaway/v1/devices/phone-001/notices", b"police are on their way")
    service.publish("stayaway/v1/agencies/police-west/alerts", b"an alert with her position")
    service.publish("stayaway/v1/devices/trk-001/commands", b"set_interval")
    settle()
    assert victim.got == [("stayaway/v1/devices/phone-001/notices", b"police are on their way")]
    assert other_phone.got == []
    # through '#' he gets his own commands (set_interval is meant for him) and nothing of hers, nor any alert
    assert respondent.got == [("stayaway/v1/devices/trk-001/commands", b"set_interval")]


@needs_mosquitto
def test_an_agency_console_reads_only_its_own_alerts(peers) -> None:  # type: ignore[no-untyped-def]
    west, east = peers("police-west"), peers("police-east")
    west.subscribe("stayaway/v1/agencies/+/alerts")
    east.subscribe("stayaway/v1/agencies/+/alerts")
    service = peers("stayaway")
    service.publish("stayaway/v1/agencies/police-west/alerts", b"west")
    west.publish("stayaway/v1/agencies/police-east/alerts", b"forged by west")
    settle()
    assert west.got == [("stayaway/v1/agencies/police-west/alerts", b"west")]
    assert east.got == []


@needs_mosquitto
def test_an_owntracks_app_writes_only_its_own_topic(peers) -> None:  # type: ignore[no-untyped-def]
    service = peers("stayaway")
    service.subscribe("owntracks/+/+")
    app = peers("bea")
    app.publish("owntracks/bea/phone", b"her fix")
    app.publish("owntracks/bea/other", b"another device of hers: not enrolled")
    app.publish("stayaway/v1/devices/phone-002/location", b"as her stayaway phone")
    settle()
    assert service.got == [("owntracks/bea/phone", b"her fix")]


@needs_mosquitto
def test_a_wrong_password_or_an_unknown_name_is_refused(peers, accounts) -> None:  # type: ignore[no-untyped-def]
    assert peers("trk-001", accounts["trk-001"] + "x").refused is not None
    assert peers("trk-999", "whatever").refused is not None
    assert peers("trk-001").refused is None


def test_new_passwords_are_written_once_with_owner_only_access(accounts, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    new = tmp_path / "mqtt" / "new-credentials.json"
    assert oct(new.stat().st_mode & 0o777) == "0o600"
    assert {c["username"] for c in json.loads(new.read_text())} == set(accounts)
    passwd = (tmp_path / "mqtt" / "passwd").read_text()
    assert all(p not in passwd for p in accounts.values()) and passwd.count("$7$101$") == len(accounts)


@needs_mosquitto
def test_serve_works_behind_the_acl_with_its_service_account(broker, accounts, tmp_path: Path, db_url) -> None:  # type: ignore[no-untyped-def]
    """The service account's grants are enough for stayaway itself: reports in, alerts and notices out."""
    from simulators import SimDevice
    from simulators.walk import offset
    from tests.support.brokers import BrokerInfo
    from tests.support.serve import Serve

    info = BrokerInfo(f"mqtt://stayaway:{accounts['stayaway']}@127.0.0.1:{broker}", "127.0.0.1", broker, "mosquitto",
                      "3.1.1")
    serve = Serve(info, db_url, tmp_path).start()  # the database the accounts were made in
    police = Peer(broker, "police-west", accounts["police-west"])
    police.subscribe("stayaway/v1/agencies/police-west/alerts")
    tracker = SimDevice("trk-001", "127.0.0.1", broker, int(time.time() * 1000), accounts["trk-001"]).connect()
    phone = SimDevice("phone-001", "127.0.0.1", broker, int(time.time() * 1000), accounts["phone-001"]).connect()
    try:
        now = datetime.now(UTC)
        for i, north in enumerate([900, 200]):
            tracker.location(*offset(*builders.HOME, north, 0), acc=5.0, ts=now + timedelta(seconds=i))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(b'"zone_breach"' in p for _, p in police.got):
            time.sleep(0.1)
        assert any(b'"zone_breach"' in p and b'"raised"' in p for _, p in police.got)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not phone.notices:
            time.sleep(0.1)
        assert phone.notices and phone.notices[0]["kind"] == "warning"  # the service may write her notices
    finally:
        tracker.close()
        phone.close()
        police.close()
        serve.stop()


# -- issue 12 review, F5: one bad order never blocks the broker's accounts for everyone ---------------------------

COURT_B = "court-pidu"


def _stored_as_before(engine, order_id: str, respondent: dict, victim: dict, at: datetime) -> None:  # type: ignore[no-untyped-def]
    """An order of court Pidu as the code before the broker-username rule stored it (a migration-era
    leftover): its rows, and its devices and topic bound to it (they were free)."""
    import sqlalchemy as sa

    from service.adapters.db import schema as t

    body = builders.order(order_id=order_id, court=COURT_B, respondent=respondent, victim=victim)
    with engine.begin() as conn:
        conn.execute(sa.insert(t.orders).values(
            order_id=order_id, type="ordinary", court_id=COURT_B, issued_at=datetime(2026, 11, 20, 9, tzinfo=UTC),
            expires_at=datetime(2027, 11, 20, 9, tzinfo=UTC), status="active", version=1, body=body, updated_at=at))
        conn.execute(sa.insert(t.order_versions).values(order_id=order_id, version=1, body=body, source="old",
                                                        recorded_at=at))
        for role, party in (("respondent", respondent), ("victim", victim)):
            topic = party.get("owntracks_topic")
            conn.execute(sa.insert(t.order_parties).values(
                order_id=order_id, role=role, person_id=party["person_id"], device_id=party["device_id"],
                report_interval_s=party["report_interval_s"], owntracks_topic=topic))
            for kind, ident in (("device", party["device_id"]), ("owntracks", topic)):
                if ident:
                    conn.execute(sa.insert(t.device_bindings).values(
                        kind=kind, ident=ident, court_id=COURT_B, role=role, person_id=party["person_id"],
                        device_id=party["device_id"], bound_at=at))


@pytest.fixture
def leftovers(engine, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Court Xinjin's order (her phone runs OwnTracks as ``vic3``), and court Pidu's orders stored before the
    rule naming the service's account, his tracker's id as an OwnTracks user, ``vic3`` and an agency's id
    as devices."""
    agencies = {**builders.AGENCIES, "features": [*builders.AGENCIES["features"], {
        "type": "Feature", "geometry": None, "properties": {"agency_id": COURT_B, "name": "Pidu", "kind": "court"}}]}
    import_agencies(engine, agencies, lambda: T0)
    theirs = builders.order()
    theirs["victim"]["owntracks_topic"] = "owntracks/vic3/phone"
    import_orders(engine, [(theirs, "a.json")], lambda: T0)
    later = T0 + timedelta(hours=1)

    def party(person: str, device: str, topic: str | None = None) -> dict:
        return {"person_id": person, "device_id": device, "report_interval_s": 30,
                **({"owntracks_topic": topic} if topic else {})}

    _stored_as_before(engine, "PSO-PIDU-0001", party("R-b1", "stayaway"), party("V-b1", "phone-b01"), later)
    _stored_as_before(engine, "PSO-PIDU-0002", party("R-b2", "trk-b02"),
                      party("V-b2", "phone-b02", "owntracks/trk-001/x"), later)
    _stored_as_before(engine, "PSO-PIDU-0003", party("R-b3", "trk-b03"), party("V-b3", "vic3"), later)
    _stored_as_before(engine, "PSO-PIDU-0004", party("R-b4", "police-west"), party("V-b4", "phone-b04"), later)
    return engine


@contextmanager
def mosquitto_with(files_from: Path) -> Iterator[int]:
    if MOSQUITTO is None:
        pytest.fail("mosquitto is needed (STAYAWAY_REQUIRE_ALL is set)")
    files = Path(tempfile.mkdtemp(prefix="stayaway-acl-"))
    os.chmod(files, 0o755)
    for name in ("passwd", "acl"):
        shutil.copy(files_from / name, files / name)
        os.chmod(files / name, 0o644)
    port = free_port()
    (files / "mosquitto.conf").write_text(f"listener {port} 127.0.0.1\nallow_anonymous false\npersistence false\n"
                                          f"password_file {files / 'passwd'}\nacl_file {files / 'acl'}\n")
    proc = subprocess.Popen([MOSQUITTO, "-c", str(files / "mosquitto.conf")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_listening("127.0.0.1", port)
        yield port
    finally:
        proc.terminate()
        proc.wait(5)
        shutil.rmtree(files, ignore_errors=True)


SKIPPED = [
    "  police-west: agency police-west keeps it; no account for the device of order PSO-PIDU-0004 (respondent)",
    "  stayaway: the service account keeps it; no account for the device of order PSO-PIDU-0001 (respondent)",
    ("  trk-001: the device of order PSO-2026-0001 (respondent) keeps it; no account for the OwnTracks topic "
     "owntracks/trk-001/x of order PSO-PIDU-0002 (victim)"),
    ("  vic3: the OwnTracks topic owntracks/vic3/phone of order PSO-2026-0001 (victim) keeps it; no account for the "
     "device of order PSO-PIDU-0003 (victim)"),
]


@needs_mosquitto
def test_stored_collisions_are_skipped_and_named_and_everyone_else_gets_an_account(leftovers, db_url,  # type: ignore[no-untyped-def]
                                                                                   tmp_path: Path) -> None:
    from tests.support.serve import STAYAWAY

    out = tmp_path / "mqtt"
    run = subprocess.run([*STAYAWAY, "mqtt", "credentials", "--out", str(out), "--db", db_url], check=False,
                         capture_output=True, text=True, timeout=120, env={**os.environ, "STAYAWAY_DATA_DIR": str(tmp_path)})
    assert run.returncode == 2, run.stderr
    assert f"wrote {out / 'passwd'}" in run.stdout and "13 new passwords" in run.stdout  # written first, then:
    assert [line for line in run.stderr.splitlines() if line.startswith("  ")] == SKIPPED, run.stderr
    assert run.stderr.startswith("error: 4 broker username(s) claimed by more than one account; the rest is written")
    issued = {c["username"]: (c["kind"], c["password"]) for c in json.loads((out / "new-credentials.json").read_text())}
    assert {u: k for u, (k, _) in issued.items()} == {
        "stayaway": "service", "police-west": "agency", "police-east": "agency", "court-xinjin": "agency",
        COURT_B: "agency", "trk-001": "device", "phone-001": "device", "vic3": "owntracks", "phone-b01": "device",
        "trk-b02": "device", "phone-b02": "device", "trk-b03": "device", "phone-b04": "device"}
    assert "owntracks/trk-001/x" not in (out / "acl").read_text()
    with mosquitto_with(out) as port:
        made = []

        def peer(username: str) -> Peer:
            made.append(Peer(port, username, issued[username][1]))
            assert made[-1].refused is None, username
            return made[-1]

        try:
            service = peer("stayaway")
            for topic in ("stayaway/v1/devices/+/location", "stayaway/v1/devices/+/panic", "owntracks/+/+"):
                service.subscribe(topic)
            her_app, his_tracker, west = peer("vic3"), peer("trk-001"), peer("police-west")
            her_app.subscribe("stayaway/v1/devices/vic3/notices")
            her_app.publish("owntracks/vic3/phone", b"her fix")
            her_app.publish("stayaway/v1/devices/vic3/panic", b"as court Pidu's phone vic3")
            his_tracker.publish("stayaway/v1/devices/trk-001/location", b"his fix")
            his_tracker.publish("owntracks/trk-001/x", b"as court Pidu's victim")
            west.publish("stayaway/v1/devices/police-west/location", b"as court Pidu's tracker")
            peer("phone-b02").publish("stayaway/v1/devices/phone-b02/location", b"court Pidu's phone")
            service.publish("stayaway/v1/devices/vic3/notices", b"for court Pidu's victim")
            settle()
            assert sorted(service.got) == [("owntracks/vic3/phone", b"her fix"),
                                           ("stayaway/v1/devices/phone-b02/location", b"court Pidu's phone"),
                                           ("stayaway/v1/devices/trk-001/location", b"his fix")]
            assert her_app.got == []
        finally:
            for p in made:
                p.close()
    with pytest.raises(AccountsSkipped) as again:  # the files again: nobody's password changes, the same report
        generate(leftovers, lambda: T0, out)
    assert again.value.issued == [] and str(again.value).splitlines()[1:-1] == SKIPPED


def test_a_name_that_comes_back_as_another_kind_of_account_gets_a_new_password(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Device ``zed``'s order ends; later someone's OwnTracks app is ``zed``: the old device's password must
    not open the new account."""
    from service.domain import law
    from service.order_admin import OrderAdmin

    import_agencies(engine, builders.AGENCIES, lambda: T0)
    first = builders.order_for(7)
    first["victim"]["device_id"] = "zed"
    import_orders(engine, [(first, "a.json")], lambda: T0)
    old = {i.username: i for i in generate(engine, lambda: T0, tmp_path / "mqtt")}["zed"]
    assert old.kind == "device"
    OrderAdmin(engine, lambda: T0).cancel("PSO-T-0007", law.Actor("judge", "court"), "set aside")
    again = builders.order_for(8)
    again["victim"]["owntracks_topic"] = "owntracks/zed/phone"
    import_orders(engine, [(again, "b.json")], lambda: T0)
    new = {i.username: i for i in generate(engine, lambda: T0, tmp_path / "mqtt")}["zed"]
    assert new.kind == "owntracks" and new.password != old.password
    stored = dict(line.split(":", 1) for line in (tmp_path / "mqtt" / "passwd").read_text().splitlines())
    assert mosquitto_verify(new.password, stored["zed"]) and not mosquitto_verify(old.password, stored["zed"])


def test_an_ended_order_s_accounts_last_through_its_grace_and_go_after_it(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Regenerated during the 72 h grace after a cancellation, her phone (whose panic still reaches police)
    and his tracker (whose reports are still stored as evidence) keep their accounts and passwords; run
    after the grace, neither has one."""
    from service.domain import ends, law
    from service.order_admin import OrderAdmin

    import_agencies(engine, builders.AGENCIES, lambda: T0)
    first = builders.order()
    first["victim"]["owntracks_topic"] = "owntracks/ana/phone"  # and her OwnTracks app: a user in the ACL
    import_orders(engine, [(first, "a.json"), (builders.order_for(2), "b.json")], lambda: T0)
    out = tmp_path / "mqtt"
    issued = {i.username: i for i in generate(engine, lambda: T0, out)}
    assert {"phone-001", "trk-001", "ana"} <= set(issued)

    def files() -> tuple[dict[str, str], str]:
        passwd = dict(line.split(":", 1) for line in (out / "passwd").read_text().splitlines())
        return passwd, (out / "acl").read_text()

    OrderAdmin(engine, lambda: T0 + timedelta(hours=1)).cancel("PSO-2026-0001", law.Actor("judge", "court"),
                                                                "set aside on appeal")
    for at in (T0 + timedelta(hours=2), T0 + timedelta(hours=1) + ends.GRACE - timedelta(seconds=1)):
        assert generate(engine, lambda at=at: at, out) == []  # nobody's password changes
        passwd, acl = files()
        for user in ("phone-001", "trk-001", "ana"):
            assert mosquitto_verify(issued[user].password, passwd[user]), (at, user)
        assert "user ana\ntopic write owntracks/ana/phone\n" in acl
    passwd, acl = files()
    assert "phone-002" in passwd and "trk-002" in passwd  # the order in force, of course
    assert generate(engine, lambda: T0 + timedelta(hours=1) + ends.GRACE, out) == []  # the grace is over
    passwd, acl = files()
    assert not {"phone-001", "trk-001", "ana"} & set(passwd)
    assert "ana" not in acl
    assert "phone-002" in passwd and "trk-002" in passwd and "stayaway" in passwd
