"""Encrypted in transit: deploy/mosquitto.conf on a real Mosquitto, with a CA made here and the accounts
and ACL of ``stayaway mqtt credentials``; stayaway's own clients and the simulators over ``mqtts://``.

The kit's listeners (ports rewritten to free loopback ones): 1883 loopback plain (stayaway on the same
machine), 8883 TLS for devices (one connection per account), 8884 TLS with a client certificate.
"""

from __future__ import annotations

import logging
import os
import queue
import select
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from service.adapters.db.engine import make_engine, migrate
from service.adapters.mqtt.ingest_client import IngestClient
from service.adapters.mqtt.network_loop import BufferedSocket
from service.adapters.mqtt.publisher import Publisher
from service.adapters.mqtt.url import MqttUrl, parse_mqtt_url
from service.importing import import_agencies, import_orders
from service.mqtt_credentials import generate
from service.wire import Inbound
from simulators import SimDevice
from tests.integration.test_mqtt_transport import flush_while_peer_reads, take_and_ack
from tests.support import builders
from tests.support.brokers import KitMosquitto, free_port, wait_listening
from tests.support.tls import CertAuthority, Issued

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
pytestmark = pytest.mark.skipif(MOSQUITTO is None and not os.environ.get("STAYAWAY_REQUIRE_ALL"),
                                reason="mosquitto is not installed")
LOCATION = "stayaway/v1/devices/{}/location"


@dataclass(frozen=True)
class Kit:
    broker: KitMosquitto
    ca: Path  # what devices and stayaway trust
    rogue_ca: Path  # a CA that signed nothing here
    client: Issued  # stayaway's client certificate for listener 8884
    console: Issued  # an agency console's
    accounts: dict[str, str]  # username -> password
    db_url: str
    certs: Path

    def port(self, deployed: int) -> int:
        return self.broker.ports[deployed]


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kit]:
    if MOSQUITTO is None:
        pytest.fail("mosquitto is needed (STAYAWAY_REQUIRE_ALL is set)")
    tmp = tmp_path_factory.mktemp("tls")
    pki, certs = tmp / "pki", tmp / "certs"
    certs.mkdir()
    ca = CertAuthority.create(pki, "stayaway-test-ca")
    clients_ca = CertAuthority.create(pki, "stayaway-test-clients-ca")
    rogue = CertAuthority.create(pki, "rogue-ca")
    server = ca.issue(pki, "broker", dns=("localhost",), ips=("127.0.0.1",))
    shutil.copy(server.cert, certs / "server.crt")
    shutil.copy(server.key, certs / "server.key")
    shutil.copy(clients_ca.cert, certs / "clients-ca.crt")
    db_url = f"sqlite:///{tmp / 'kit.sqlite'}"
    engine = make_engine(db_url)
    migrate(engine)
    import_agencies(engine, builders.AGENCIES, lambda: T0)
    import_orders(engine, [(builders.order(**builders.ZONES_ONLY), "a.json")], lambda: T0)
    issued = generate(engine, lambda: T0, tmp / "mqtt")  # `stayaway mqtt credentials`: passwd, acl
    engine.dispose()
    (tmp / "mqtt" / "new-credentials.json").unlink()  # not the broker's business
    broker = KitMosquitto(tmp / "mqtt", certs)
    try:
        assert sorted(broker.ports) == [1883, 8883, 8884]
        yield Kit(broker, ca.cert, rogue.cert, clients_ca.issue(pki, "stayaway", client=True),
                  clients_ca.issue(pki, "police-west", client=True), {i.username: i.password for i in issued},
                  db_url, certs)
    finally:
        broker.stop()


class Peer:
    """A plain paho client (TLS when ``tls`` is an SSLContext), recording what it gets and its connection."""

    def __init__(self, port: int, username: str, password: str, host: str = "127.0.0.1",
                 tls: ssl.SSLContext | None = None, client_id: str | None = None) -> None:
        self.got: list[tuple[str, bytes]] = []
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        self.accepted = False
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                             client_id=client_id or f"{username}-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv311)
        self.c.username_pw_set(username, password)
        self.c.reconnect_delay_set(60, 60)  # a dropped connection stays dropped for the test's length
        if tls is not None:
            self.c.tls_set_context(tls)
        self.c.on_connect = self._on_connect
        self.c.on_disconnect = lambda *_a: self.disconnected.set()
        self.c.on_message = lambda _c, _u, m: self.got.append((m.topic, m.payload))
        self.c.connect_async(host, port)
        self.c.loop_start()

    def _on_connect(self, _c, _u, _f, reason, _p) -> None:  # type: ignore[no-untyped-def]
        self.accepted = not reason.is_failure
        self.connected.set()

    def subscribe(self, topic: str) -> None:
        done = threading.Event()
        self.c.on_subscribe = lambda *_a: done.set()
        self.c.subscribe(topic, qos=1)
        assert done.wait(5)

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def client_context(kit: Kit, client: Issued | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(kit.ca))
    if client is not None:
        ctx.load_cert_chain(client.cert, client.key)
    return ctx


def service_url(kit: Kit, *, host: str = "localhost", ca: Path | None = None, client: bool = True,
                port: int | None = None) -> MqttUrl:
    """stayaway's account on the kit's certificate listener (8884), as ``stayaway serve`` would parse it."""
    return parse_mqtt_url(f"mqtts://stayaway:{kit.accounts['stayaway']}@{host}:{port or kit.port(8884)}",
                          str(ca or kit.ca), str(kit.client.cert) if client else None,
                          str(kit.client.key) if client else None)


def device(kit: Kit, device_id: str = "trk-001", **kw: object) -> SimDevice:
    return SimDevice.from_url(device_id, f"mqtts://localhost:{kit.port(8883)}", int(time.time() * 1000),
                              kit.accounts[device_id], ca_file=str(kit.ca), **kw)  # type: ignore[arg-type]


def test_a_device_reports_over_tls_and_stayaway_ingests_it_over_mqtts(kit: Kit) -> None:
    inbox: queue.Queue[Inbound] = queue.Queue()
    ingest = IngestClient(service_url(kit), f"stayaway-tls-{uuid.uuid4().hex[:6]}", "3.1.1", 1000, 300, inbox.put,
                          [("stayaway/v1/devices/+/location", 1)])
    ingest.start()
    tracker = None
    try:
        assert ingest.subscribed.wait(10), kit.broker.log()[-3000:]
        sock = ingest._client.socket()
        assert isinstance(sock, BufferedSocket) and isinstance(sock._sock, ssl.SSLSocket)  # TLS under the buffer
        assert sock.version() in ("TLSv1.2", "TLSv1.3")
        tracker = device(kit).connect()
        body = tracker.location(30.4310, 103.8615, acc=5.0)
        item = inbox.get(timeout=10)
        assert item.topic == LOCATION.format("trk-001") and b'"seq":%d' % body["seq"] in item.payload
        ingest.ack([item])
    finally:
        if tracker is not None:
            tracker.close()
        ingest.stop()


def test_many_reports_large_and_small_arrive_once_over_tls_and_their_acks_reach_the_broker(kit: Kit) -> None:
    """The buffered socket over TLS: bursts, payloads spanning several TLS records, acks coalesced; after the
    acks a new connection of the same session gets nothing back."""
    inbox: queue.Queue[Inbound] = queue.Queue()
    client_id = f"stayaway-tls-{uuid.uuid4().hex[:6]}"
    topic = LOCATION.format("trk-001")

    def session() -> IngestClient:
        return IngestClient(service_url(kit), client_id, "3.1.1", 1000, 300, inbox.put, [(topic, 1)])

    ingest = session()
    ingest.start()
    assert ingest.subscribed.wait(10)
    tracker = device(kit).connect()
    n = 1500
    payloads = [(b'{"n": %d, "pad": "' % i) + b"x" * (40_000 if i % 100 == 7 else i % 300) + b'"}' for i in range(n)]
    got: list[Inbound] = []
    deadline = time.monotonic() + 60
    for start in range(0, n, 250):
        infos = [tracker._client.publish(topic, p, qos=1) for p in payloads[start:start + 250]]
        for info in infos:
            info.wait_for_publish(10)
        take_and_ack(inbox, ingest, got, start + 250, deadline)
    tracker.close()
    assert sorted(item.payload for item in got) == sorted(payloads)
    time.sleep(0.5)  # the last acks leave on the loop's next turn
    ingest.stop()
    again = session()
    again.start()
    try:
        assert again.subscribed.wait(10)
        time.sleep(1.0)
        assert inbox.qsize() == 0
    finally:
        again.stop()


def test_the_alert_publisher_reaches_a_console_over_tls(kit: Kit) -> None:
    console = Peer(kit.port(8884), "police-west", kit.accounts["police-west"], "localhost",
                   client_context(kit, kit.console))
    publisher = Publisher(service_url(kit), f"stayaway-alerts-{uuid.uuid4().hex[:6]}", "3.1.1")
    publisher.start()
    try:
        assert console.connected.wait(10) and console.accepted
        console.subscribe("stayaway/v1/agencies/police-west/alerts")
        assert publisher.connected.wait(10)
        mid = publisher.publish("stayaway/v1/agencies/police-west/alerts", b'{"kind": "zone_breach"}')
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (console.got and mid in publisher.acked):
            time.sleep(0.05)
        assert console.got == [("stayaway/v1/agencies/police-west/alerts", b'{"kind": "zone_breach"}')]
        assert mid in publisher.acked
    finally:
        publisher.stop()
        console.close()


@pytest.fixture
def tls_pair(kit: Kit) -> Iterator[tuple[ssl.SSLSocket, ssl.SSLSocket]]:
    """A TLS connection over loopback TCP: (ours, non-blocking as paho sets it; the peer's, blocking)."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(kit.certs / "server.crt", kit.certs / "server.key")
    accepted: list[ssl.SSLSocket] = []
    with socket.create_server(("127.0.0.1", 0)) as server:
        accepting = threading.Thread(target=lambda: accepted.append(server_ctx.wrap_socket(server.accept()[0],
                                                                                          server_side=True)))
        accepting.start()
        ours = client_context(kit).wrap_socket(socket.create_connection(server.getsockname()),
                                                server_hostname="localhost")
        accepting.join(10)
    ours.setblocking(False)
    yield ours, accepted[0]
    ours.close()
    accepted[0].close()


def test_the_buffered_socket_reads_tls_records_in_order(tls_pair: tuple[ssl.SSLSocket, ssl.SSLSocket]) -> None:
    ours, peer = tls_pair
    buffered = BufferedSocket(ours)
    stream = bytes(range(256)) * 400  # ~100 KB: several TLS records
    threading.Thread(target=peer.sendall, args=(stream,)).start()
    got = bytearray()
    deadline = time.monotonic() + 10
    while len(got) < len(stream) and time.monotonic() < deadline:
        if not buffered.pending():
            select.select([ours], [], [], 1.0)
        try:
            got += buffered.recv(1)  # paho's way: the type byte, then the body
            got += buffered.recv(300)
        except ssl.SSLWantReadError:  # part of a record: paho takes it as "try again" (BlockingIOError)
            continue
    assert bytes(got) == stream and buffered.pending() == 0


def test_the_buffered_socket_keeps_what_tls_cannot_send_yet(tls_pair: tuple[ssl.SSLSocket, ssl.SSLSocket]) -> None:
    """A full kernel buffer under TLS is SSLWantWriteError, not an error: the bytes wait for the next flush."""
    ours, peer = tls_pair
    buffered = BufferedSocket(ours)
    payload = bytes(i % 251 for i in range(16 * 1024 * 1024))
    buffered.send(payload)
    buffered.flush()
    assert buffered.unsent() == len(payload)  # TLS took some records and wants the same buffer again
    assert flush_while_peer_reads(buffered, peer, len(payload), 30.0) == payload
    assert buffered.unsent() == 0


def refused(url: MqttUrl, wait_s: float = 3.0) -> bool:
    """True when an ingest session with ``url`` does not come up in ``wait_s``."""
    ingest = IngestClient(url, f"stayaway-tls-{uuid.uuid4().hex[:6]}", "3.1.1", 1000, 300, lambda _i: None,
                          [("stayaway/v1/devices/+/location", 1)])
    ingest.start()
    try:
        return not ingest.subscribed.wait(wait_s)
    finally:
        ingest.stop()


def test_an_untrusted_certificate_is_refused(kit: Kit, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "service.adapters.mqtt")
    assert refused(service_url(kit, ca=kit.rogue_ca))
    assert "certificate is refused" in caplog.text and "unable to get local issuer certificate" in caplog.text
    assert kit.accounts["stayaway"] not in caplog.text
    assert not refused(service_url(kit))  # the same client trusting the right CA connects


def test_a_certificate_for_another_host_name_is_refused(kit: Kit, tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    """A broker whose certificate names only ``localhost``: reached as 127.0.0.1 it is refused, as localhost not."""
    pki = tmp_path / "pki"
    ca = CertAuthority.create(pki, "other-ca")
    named = ca.issue(pki, "named", dns=("localhost",))
    files = Path(tempfile.mkdtemp(prefix="stayaway-tls-name-"))
    os.chmod(files, 0o755)
    for f in (named.cert, named.key):
        shutil.copy(f, files / f.name)
        os.chmod(files / f.name, 0o644)
    port = free_port()
    conf = files / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\ncertfile {files / named.cert.name}\nkeyfile {files / named.key.name}\n"
                    "allow_anonymous true\npersistence false\n")
    proc = subprocess.Popen([MOSQUITTO or "mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_listening("127.0.0.1", port)
        caplog.set_level(logging.WARNING, "service.adapters.mqtt")
        assert refused(parse_mqtt_url(f"mqtts://127.0.0.1:{port}", str(ca.cert)))
        assert "certificate is refused" in caplog.text and "127.0.0.1" in caplog.text  # "not valid for '127.0.0.1'"
        assert not refused(parse_mqtt_url(f"mqtts://localhost:{port}", str(ca.cert)))
    finally:
        proc.terminate()
        proc.wait(5)
        shutil.rmtree(files, ignore_errors=True)


def test_the_certificate_listener_refuses_a_client_without_a_certificate(kit: Kit,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    assert refused(service_url(kit, client=False))
    assert not refused(service_url(kit, client=True))


def test_cleartext_to_a_tls_listener_gets_no_session(kit: Kit) -> None:
    plain = Peer(kit.port(8883), "trk-001", kit.accounts["trk-001"])
    try:
        assert not (plain.connected.wait(3) and plain.accepted)
    finally:
        plain.close()
    over_tls = Peer(kit.port(8883), "trk-001", kit.accounts["trk-001"], "localhost", client_context(kit))
    try:
        assert over_tls.connected.wait(5) and over_tls.accepted  # the same account over TLS: in
    finally:
        over_tls.close()


def test_a_second_connection_of_a_device_account_pushes_the_first_off(kit: Kit) -> None:
    """Device listener: the client id is the username, so the same credentials under another client id still
    take the one session over. On the loopback listener (no such rule) both stay: the rule is the listener's."""
    first = Peer(kit.port(8883), "trk-001", kit.accounts["trk-001"], "localhost", client_context(kit), "clone-a")
    second = None
    try:
        assert first.connected.wait(5) and first.accepted
        second = Peer(kit.port(8883), "trk-001", kit.accounts["trk-001"], "localhost", client_context(kit), "clone-b")
        assert second.connected.wait(5) and second.accepted
        assert first.disconnected.wait(5)
        time.sleep(0.5)
        assert not second.disconnected.is_set()
        service = Peer(kit.port(1883), "stayaway", kit.accounts["stayaway"])
        try:
            assert service.connected.wait(5)
            service.subscribe(LOCATION.format("+"))
            second.c.publish(LOCATION.format("trk-001"), b"from the one connection", qos=1).wait_for_publish(5)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not service.got:
                time.sleep(0.05)
            assert service.got == [(LOCATION.format("trk-001"), b"from the one connection")]
        finally:
            service.close()
    finally:
        first.close()
        if second is not None:
            second.close()
    a = Peer(kit.port(1883), "trk-001", kit.accounts["trk-001"], client_id="loopback-a")
    b = Peer(kit.port(1883), "trk-001", kit.accounts["trk-001"], client_id="loopback-b")
    try:
        assert a.connected.wait(5) and b.connected.wait(5) and a.accepted and b.accepted
        time.sleep(1.0)
        assert not a.disconnected.is_set() and not b.disconnected.is_set()
    finally:
        a.close()
        b.close()


def test_the_kit_disconnects_a_device_sending_more_than_the_contract_s_largest_message(kit: Kit) -> None:
    """max_packet_size: a 400 KB publish (the contract's largest message is 256 KiB) never reaches stayaway."""
    service = Peer(kit.port(1883), "stayaway", kit.accounts["stayaway"])
    big = Peer(kit.port(8883), "trk-001", kit.accounts["trk-001"], "localhost", client_context(kit), "big")
    try:
        assert service.connected.wait(5) and big.connected.wait(5) and big.accepted
        service.subscribe(LOCATION.format("+"))
        big.c.publish(LOCATION.format("trk-001"), b"[" + b" " * 400_000 + b"]", qos=1)
        assert big.disconnected.wait(5)
        time.sleep(0.5)
        assert service.got == []
    finally:
        big.close()
        service.close()


def test_serve_over_mqtts_raises_the_alert_for_a_device_reporting_over_tls(kit: Kit, tmp_path: Path) -> None:
    """``stayaway serve`` with an mqtts:// URL, CA, client certificate and key from the settings: a tracker on
    the device listener walks into the home zone; police read the alert over TLS. No password in its log."""
    from simulators.walk import offset
    from tests.support.brokers import BrokerInfo
    from tests.support.serve import Serve

    password = kit.accounts["stayaway"]
    url = f"mqtts://stayaway:{password}@localhost:{kit.port(8884)}"
    serve = Serve(BrokerInfo(url, "localhost", kit.port(8884), "mosquitto", "3.1.1"), kit.db_url, tmp_path)
    serve.env.update(STAYAWAY_MQTT_CA_FILE=str(kit.ca), STAYAWAY_MQTT_CERT_FILE=str(kit.client.cert),
                     STAYAWAY_MQTT_KEY_FILE=str(kit.client.key))
    police = Peer(kit.port(8884), "police-west", kit.accounts["police-west"], "localhost",
                  client_context(kit, kit.console))
    tracker = None
    try:
        serve.start()
        assert police.connected.wait(5) and police.accepted
        police.subscribe("stayaway/v1/agencies/police-west/alerts")
        tracker = device(kit).connect()
        now = datetime.now(UTC)
        for i, north in enumerate([900, 200]):
            tracker.location(*offset(*builders.HOME, north, 0), acc=5.0, ts=now + timedelta(seconds=i))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(b'"zone_breach"' in p for _, p in police.got):
            time.sleep(0.1)
        assert any(b'"zone_breach"' in p and b'"raised"' in p for _, p in police.got), serve.log()[-3000:]
        log = serve.log()
        assert f"mqtts://stayaway:***@localhost:{kit.port(8884)}" in log  # the banner, password masked
        assert password not in log
    finally:
        if tracker is not None:
            tracker.close()
        police.close()
        serve.stop()
