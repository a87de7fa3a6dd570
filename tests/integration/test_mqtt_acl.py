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
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from service.importing import import_agencies, import_orders
from service.mqtt_credentials import generate, mosquitto_hash, mosquitto_verify
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
    if MOSQUITTO is None:
        pytest.fail("mosquitto is needed (STAYAWAY_REQUIRE_ALL is set)")
    # mosquitto started as root reads these as its own user: a directory it can reach (pytest's is 0700)
    files = Path(tempfile.mkdtemp(prefix="stayaway-acl-"))
    os.chmod(files, 0o755)
    for name in ("passwd", "acl"):
        shutil.copy(tmp_path / "mqtt" / name, files / name)
        os.chmod(files / name, 0o644)
    port = free_port()
    conf = files / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous false\npersistence false\n"
                    f"password_file {files / 'passwd'}\nacl_file {files / 'acl'}\n")
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_listening("127.0.0.1", port)
        yield port
    finally:
        proc.terminate()
        proc.wait(5)
        shutil.rmtree(files, ignore_errors=True)


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
