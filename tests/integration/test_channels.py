"""Delivery channels over real HTTP: signed webhooks and Apprise, against a local receiver on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import random
import socket
import statistics
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.model import Alert, AlertEvent, EventType, Kind, Severity, Status
from geofence import Fix
from service.adapters.channels import Attempt
from service.adapters.channels.apprise_channel import (
    AppriseNotifier,
    AppriseSender,
    Notification,
    human_text,
    load_agency_urls,
)
from service.adapters.channels.webhook import (
    Delivery,
    WebhookSender,
    backoff_s,
    sign,
    verify,
)
from service.domain.orders import ZoneSpec
from service.wire.encode import alert_message

# apprise 2.2 loads its e-mail plugin, which imports the standard library's deprecated imghdr module
pytestmark = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")

SECRET = b"agency-shared-secret"
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


# -- a real HTTP receiver ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes
    at: float  # time.monotonic() on arrival


class Receiver:
    """http.server in a thread. Answers 200, or the scripted answers first; ``delay_s`` per request;
    clear ``release`` to hold requests until it is set again."""

    def __init__(self, port: int = 0, delay_s: float = 0.0) -> None:
        self.received: list[Received] = []
        self.script: deque[tuple[int, dict[str, str]]] = deque()
        self.delay_s = delay_s
        self.release = threading.Event()
        self.release.set()
        self._arrived = threading.Condition()
        self.server = _Server(("127.0.0.1", port), self._handler())
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def url(self, path: str = "/hooks/alerts") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_for(self, n: int, timeout: float = 60.0) -> list[Received]:
        with self._arrived:
            assert self._arrived.wait_for(lambda: len(self.received) >= n, timeout), f"{len(self.received)} of {n}"
            return list(self.received)

    def _record(self, item: Received) -> tuple[int, dict[str, str]]:
        with self._arrived:
            self.received.append(item)
            self._arrived.notify_all()
            return self.script.popleft() if self.script else (200, {})

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, extra = receiver._record(Received(self.path, headers, body, time.monotonic()))
                receiver.release.wait()
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.close()


def closed_port() -> int:
    """A loopback port nobody listens on (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Log:
    """What the sender reports, as the database would record it."""

    def __init__(self, expect: int = 1) -> None:
        self.attempts: list[Attempt] = []
        self.delivered: list[int] = []
        self.lock = threading.Lock()
        self.expect = expect
        self.all_delivered = threading.Event()

    def on_attempt(self, attempt: Attempt) -> None:
        with self.lock:
            self.attempts.append(attempt)

    def on_delivered(self, delivery_id: int) -> None:
        with self.lock:
            self.delivered.append(delivery_id)
            if len(self.delivered) >= self.expect:
                self.all_delivered.set()


def wall_clock() -> datetime:
    return datetime.now(UTC)


def body_for(i: int) -> bytes:
    return json.dumps({"alert_id": f"A-{i}", "event_id": f"A-{i}:1", "kind": "zone_breach",
                       "respondent": {"lat": 30.4310 + i * 1e-6, "lon": 103.8615}}).encode()


# -- signatures ----------------------------------------------------------------------------------------

def test_a_delivered_signature_verifies_and_tampering_fails(receiver: Receiver) -> None:
    log = Log()
    sender = WebhookSender(log.on_attempt, log.on_delivered, wall_clock)
    sender.start()
    body = body_for(1)
    try:
        assert sender.submit(Delivery(1, receiver.url(), SECRET, body, "A-1:1"))
        assert log.all_delivered.wait(10)
    finally:
        sender.stop()
    got = receiver.wait_for(1)[0]
    h, now = got.headers, time.time()
    assert (got.path, got.body, h["content-type"], h["x-stayaway-event-id"]) == ("/hooks/alerts", body,
                                                                                  "application/json", "A-1:1")
    timestamp, signature = h["x-stayaway-timestamp"], h["x-stayaway-signature"]
    independent = hmac.new(SECRET, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert signature == f"v1={independent}" == f"v1={sign(SECRET, int(timestamp), body)}"
    assert verify(SECRET, timestamp, got.body, signature, now)
    flipped = bytes([body[0] ^ 0x01]) + body[1:]
    assert not verify(SECRET, timestamp, flipped, signature, now)
    assert not verify(SECRET, timestamp, body[:-1] + bytes([body[-1] ^ 0x80]), signature, now)
    assert not verify(b"another-secret", timestamp, body, signature, now)
    assert not verify(SECRET, timestamp, body, signature, int(timestamp) + 301)  # a replay, 5 minutes on
    assert not verify(SECRET, timestamp, body, signature, int(timestamp) - 301)  # from the future
    assert verify(SECRET, timestamp, body, signature, int(timestamp) + 299)
    assert not verify(SECRET, str(int(timestamp) + 1), body, signature, now)  # timestamp changed
    assert not verify(SECRET, f"{timestamp}.0", body, signature, now)
    assert not verify(SECRET, timestamp, body, "v0=" + independent, now)
    assert verify(SECRET, timestamp, body, f"v1={'0' * 64}, {signature}", now)  # during a secret rotation
    assert [(a.attempt_no, a.status_code, a.error, a.retry_in_s) for a in log.attempts] == [(1, 200, None, None)]
    assert log.delivered == [1]


def test_only_http_and_https_urls_are_accepted() -> None:
    sender = WebhookSender(lambda a: None, lambda i: None, wall_clock)
    for url in ("ftp://example.org/x", "file:///etc/passwd", "javascript:alert(1)", "http://", "/relative",
                "127.0.0.1:8080/hook", "mqtt://127.0.0.1/x", "http://127.0.0.1:99999/x"):
        with pytest.raises(ValueError):
            sender.submit(Delivery(1, url, SECRET, b"{}", "e"))
    with pytest.raises(ValueError):
        sender.submit(Delivery(1, "https://police.example/hook", b"", b"{}", "e"))
    assert sender.submit(Delivery(1, "https://police.example/hook", SECRET, b"{}", "e"))
    assert not sender.submit(Delivery(1, "https://police.example/hook", SECRET, b"{}", "e"))  # already pending
    assert [d.id for d in sender.stop()] == [1]


def test_backoff_doubles_from_one_second_to_a_sixty_second_cap_with_jitter() -> None:
    assert [backoff_s(n, 0.0) for n in range(1, 10)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert backoff_s(10_000, 0.0) == 60
    for n in range(1, 12):
        low, high = backoff_s(n, 0.999999), backoff_s(n, 0.0)
        assert 0.75 * high <= low < high <= 60


# -- retries -------------------------------------------------------------------------------------------

class VirtualTime:
    """Clock and wait for the sender: waiting moves the clock on at once, so back-off costs no real time."""

    def __init__(self) -> None:
        self.t = T0.timestamp()

    def clock(self) -> datetime:
        return datetime.fromtimestamp(self.t, UTC)

    def monotonic(self) -> float:
        return self.t

    def wait(self, event: threading.Event, timeout: float | None) -> bool:
        if timeout is None or event.is_set():
            return event.wait(timeout)
        self.t += timeout
        return False


def test_a_receiver_down_then_up_gets_the_delivery_after_backoff_exactly_as_sent() -> None:
    vt, log, port, up = VirtualTime(), Log(), closed_port(), []

    def on_attempt(attempt: Attempt) -> None:
        log.on_attempt(attempt)
        if attempt.attempt_no == 2:  # the receiver comes up, sick at first
            r = Receiver(port)
            r.script.extend([(503, {}), (410, {}), (429, {"Retry-After": "30"})])
            up.append(r.start())

    sender = WebhookSender(on_attempt, log.on_delivered, vt.clock, monotonic=vt.monotonic, wait=vt.wait,
                           random_unit=random.Random(7).random)
    sender.start()
    body = body_for(7)
    try:
        sender.submit(Delivery(7, f"http://127.0.0.1:{port}/hooks/alerts", SECRET, body, "A-7:1", priority=0))
        assert log.all_delivered.wait(20)
        assert sender.stop() == []
        got = up[0].wait_for(4)
    finally:
        for r in up:
            r.close()
    attempts = log.attempts
    assert [(a.delivery_id, a.attempt_no, a.status_code) for a in attempts] == [
        (7, 1, None), (7, 2, None), (7, 3, 503), (7, 4, 410), (7, 5, 429), (7, 6, 200)]
    assert all("ConnectionRefusedError" in (a.error or "") for a in attempts[:2])
    assert [a.error for a in attempts[2:]] == [None] * 4
    delays = [a.retry_in_s for a in attempts]
    assert delays[5] is None and delays[4] == 30  # Retry-After beats the back-off of 12-16 s
    for n, delay in enumerate(delays[:4], start=1):
        assert delay is not None and 0.75 * 2 ** (n - 1) <= delay <= 2 ** (n - 1)
    for before, after in itertools.pairwise(attempts):
        assert (after.at - before.at).total_seconds() == pytest.approx(before.retry_in_s)
    assert log.delivered == [7]
    assert len(got) == 4 and all(g.body == body and g.headers["x-stayaway-event-id"] == "A-7:1" for g in got)
    stamps = [int(g.headers["x-stayaway-timestamp"]) for g in got]
    assert stamps == sorted(stamps) and len(set(stamps)) == 4  # each attempt signed afresh
    assert [int(a.at.timestamp()) for a in attempts[2:]] == stamps
    for g in got:
        assert verify(SECRET, g.headers["x-stayaway-timestamp"], g.body, g.headers["x-stayaway-signature"],
                      int(g.headers["x-stayaway-timestamp"]))


def test_stop_is_prompt_with_a_request_hanging_and_returns_what_was_not_delivered(receiver: Receiver) -> None:
    log = Log()
    sender = WebhookSender(log.on_attempt, log.on_delivered, wall_clock, workers=1, timeout_s=60)
    sender.start()
    receiver.release.clear()  # the receiver reads the request and never answers
    sender.submit(Delivery(1, receiver.url(), SECRET, body_for(1), "A-1:1", priority=3))
    receiver.wait_for(1)
    sender.submit(Delivery(2, receiver.url(), SECRET, body_for(2), "A-2:1", priority=0))  # waits: one worker
    started = time.monotonic()
    left = sender.stop(timeout=5)
    assert time.monotonic() - started < 2.0
    assert [d.id for d in left] == [2, 1]
    assert [(a.delivery_id, a.status_code, a.retry_in_s) for a in log.attempts] == [(1, None, None)]
    assert log.attempts[0].error and log.delivered == []
    with pytest.raises(RuntimeError):
        sender.submit(Delivery(3, receiver.url(), SECRET, b"{}", "A-3:1"))


# -- volume and priority -------------------------------------------------------------------------------

def test_a_thousand_deliveries_all_arrive_once_and_intact(receiver: Receiver) -> None:
    n = 1000
    log = Log(expect=n)
    sender = WebhookSender(log.on_attempt, log.on_delivered, wall_clock)  # 4 workers
    sender.start()
    bodies = {f"A-{i}:1": body_for(i) for i in range(n)}
    submitted: dict[str, float] = {}
    started = time.monotonic()
    try:
        for i, (event_id, body) in enumerate(bodies.items()):
            submitted[event_id] = time.monotonic()
            sender.submit(Delivery(i, receiver.url(), SECRET, body, event_id, priority=i % 4))
        assert log.all_delivered.wait(120), f"{len(log.delivered)} of {n} delivered"
    finally:
        sender.stop()
    elapsed = time.monotonic() - started
    got = receiver.wait_for(n)
    assert len(got) == n and sorted(log.delivered) == list(range(n))
    assert {g.headers["x-stayaway-event-id"]: g.body for g in got} == bodies
    assert all(verify(SECRET, g.headers["x-stayaway-timestamp"], g.body, g.headers["x-stayaway-signature"],
                      time.time()) for g in got)
    assert all(a.attempt_no == 1 and a.status_code == 200 for a in log.attempts) and len(log.attempts) == n
    latencies_ms = sorted((g.at - submitted[g.headers["x-stayaway-event-id"]]) * 1000 for g in got)
    print(f"\n{n} webhooks, 4 workers: {n / elapsed:.0f}/s; submit->received p50 "
          f"{statistics.median(latencies_ms):.1f} ms, p99 {latencies_ms[int(0.99 * n) - 1]:.1f} ms, "
          f"max {latencies_ms[-1]:.1f} ms; request {statistics.median(a.duration_ms for a in log.attempts):.2f} ms "
          f"median")


def test_a_panic_submitted_after_a_storm_is_received_before_most_of_it() -> None:
    storm = 2000
    slow = Receiver(delay_s=0.005).start()
    log = Log(expect=storm + 1)
    sender = WebhookSender(log.on_attempt, log.on_delivered, wall_clock, workers=4)
    sender.start()
    try:
        for i in range(storm):
            sender.submit(Delivery(i + 1, slow.url(), SECRET, body_for(i), f"low-{i}", priority=3))
        sender.submit(Delivery(storm + 1, slow.url(), SECRET, b'{"kind": "panic"}', "panic-1", priority=0))
        assert log.all_delivered.wait(180), f"{len(log.delivered)} delivered"
    finally:
        sender.stop()
        slow.close()
    order = [g.headers["x-stayaway-event-id"] for g in slow.received]
    position = order.index("panic-1")
    print(f"\npanic received {position + 1}th of {len(order)} (after {position} of {storm} low-priority)")
    assert len(order) == storm + 1 and position < storm // 2


# -- Apprise -------------------------------------------------------------------------------------------

def message(kind: Kind, agency_kind: str, respondent: Fix | None, victim: Fix | None,
            distance_m: float | None = 120.0, event: EventType = EventType.RAISED,
            retroactive: bool = False) -> dict:
    severity = Severity.HIGH if kind == Kind.PRE_ALERT else Severity.CRITICAL
    alert = Alert(alert_id="al-1", order_id="PSO-2026-0001", kind=kind, severity=severity, status=Status.OPEN,
                  occurred_at=T0, raised_at=T0, zone_id="home", retroactive=retroactive, event_seq=1)
    zone = ZoneSpec("home", "home", "Victim's home", {"type": "Point", "coordinates": [103.8615, 30.431]}, 300.0)
    zoned = kind in (Kind.ZONE_BREACH, Kind.PRE_ALERT)
    return alert_message(AlertEvent(alert, event, T0, {}), "police-west", agency_kind, respondent, victim,
                         zone if zoned else None, distance_m)


def numerals(x: float) -> list[str]:
    """``x`` as it could appear in a text: its repr and 2 to 8 decimals."""
    return [repr(x)] + [f"{x:.{k}f}" for k in range(2, 9)]


def test_apprise_json_reaches_the_local_receiver(receiver: Receiver) -> None:
    attempts: list[Attempt] = []
    respondent = Fix(30.4321, 103.8634, 6.0, T0)
    title, body = human_text(message(Kind.ZONE_BREACH, "police", respondent, None, 42.0), police=True)
    sender = AppriseSender(attempts.append, wall_clock)
    assert sender.notify([f"json://127.0.0.1:{receiver.port}/sms-gateway"], title, body, delivery_id=5)
    got = receiver.wait_for(1)
    posted = json.loads(got[0].body)
    assert (got[0].path, posted["title"], posted["message"]) == ("/sms-gateway", title, body)
    assert "Respondent at 30.43210, 103.86340 (±6 m)" in body and "into the zone: 42 m" in body
    assert [(a.delivery_id, a.attempt_no, a.status_code, a.error) for a in attempts] == [(5, 1, None, None)]
    assert attempts[0].ok and (attempts[0].target or "").startswith(f"json://127.0.0.1:{receiver.port}/")


def test_apprise_reports_each_failed_url_and_delivers_to_the_others(receiver: Receiver) -> None:
    attempts: list[Attempt] = []
    sender = AppriseSender(attempts.append, wall_clock)
    receiver.script.append((503, {}))
    sick, down = f"json://127.0.0.1:{receiver.port}/sick", f"json://127.0.0.1:{closed_port()}/down"
    urls = [sick, down, "nosuchservice://x", f"form://127.0.0.1:{receiver.port}/ok"]
    assert sender.deliver(urls, "title", "body", delivery_id=9, attempt_no=3) == urls[:3]
    got = receiver.wait_for(2)
    assert [g.path for g in got] == ["/sick", "/ok"] and b"body" in got[1].body
    assert [(a.delivery_id, a.attempt_no, a.ok) for a in attempts] == [(9, 3, False)] * 3 + [(9, 3, True)]
    assert "503" in (attempts[0].error or "")
    assert "127.0.0.1" in (attempts[1].error or "") and "not a valid" in (attempts[2].error or "")
    assert not sender.notify([down], "title", "body")


def test_the_apprise_notifier_retries_only_the_failed_service_until_it_takes_the_message(receiver: Receiver) -> None:
    log = Log()
    notifier = AppriseNotifier(log.on_attempt, log.on_delivered, wall_clock, base_s=0.05, cap_s=0.2)
    receiver.script.extend([(503, {}), (200, {}), (503, {})])  # in turn: SMS sick, chat fine, SMS sick, then fine
    sms, chat = f"json://127.0.0.1:{receiver.port}/sms", f"json://127.0.0.1:{receiver.port}/chat"
    notifier.start()
    try:
        assert notifier.submit(Notification(7, (sms, chat), "Zone breach", "text", "A-1:1", priority=1))
        assert log.all_delivered.wait(20)
    finally:
        assert notifier.stop() == []
    paths = [g.path for g in receiver.received]
    assert paths.count("/chat") == 1 and paths.count("/sms") == 3  # the chat got it once, the SMS on the third try
    assert log.delivered == [7]
    assert [(a.attempt_no, a.ok) for a in log.attempts if "/sms" in (a.target or "")] == [(1, False), (2, False), (3, True)]


def test_apprise_urls_per_agency_come_from_a_tagged_apprise_config_file(tmp_path, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "apprise.txt"
    config.write_text(f"police-west=json://127.0.0.1:{receiver.port}/sms\n"
                      f"police-west,court-xinjin=form://127.0.0.1:{receiver.port}/duty\n"
                      "# a comment\n")
    urls = load_agency_urls(config)
    assert sorted(urls) == ["court-xinjin", "police-west"]
    assert [u.split("?")[0] for u in urls["police-west"]] == [f"json://127.0.0.1:{receiver.port}/sms",
                                                              f"form://127.0.0.1:{receiver.port}/duty"]
    assert [u.split("?")[0] for u in urls["court-xinjin"]] == [f"form://127.0.0.1:{receiver.port}/duty"]
    with pytest.raises(ValueError, match="cannot read"):
        load_agency_urls(tmp_path / "missing.txt")
    untagged = tmp_path / "untagged.txt"
    untagged.write_text(f"json://127.0.0.1:{receiver.port}/sms\n")
    with pytest.raises(ValueError, match="no URL tagged"):
        load_agency_urls(untagged)


def test_human_text_shows_the_respondent_to_police_only_and_never_near_the_victim() -> None:
    here = Fix(30.4321, 103.8634, 6.0, T0)
    police = human_text(message(Kind.ZONE_BREACH, "police", here, None), police=True)[1]
    court = human_text(message(Kind.ZONE_BREACH, "court", here, None))[1]
    assert "30.43210, 103.86340" in police and "30.432" not in court and "103.86" not in court
    for kind in (Kind.PANIC, Kind.PROXIMITY):
        msg = message(kind, "police", here, here)  # the parties at the same spot
        assert msg["victim"]["lat"] == 30.4321  # the message does carry the victim's position
        title, body = human_text(msg, police=True)
        assert not any(s in title + body for s in numerals(here.lat) + numerals(here.lon))
        assert "console" in body
    late = human_text(message(Kind.PRE_ALERT, "court", None, None, retroactive=True))
    assert late[0] == "HIGH Pre-alert raised: order PSO-2026-0001" and "LATE DATA" in late[1]


coordinate = st.floats(1.0, 80.0).map(lambda x: round(x, 6)) | st.floats(-80.0, -1.0).map(lambda x: round(x, 6))


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(list(Kind)), event=st.sampled_from(list(EventType)),
       agency_kind=st.sampled_from(["police", "court", "social_services"]), police=st.booleans(),
       victim=st.tuples(coordinate, coordinate), respondent=st.none() | st.tuples(coordinate, coordinate),
       same_place=st.booleans(), distance_m=st.none() | st.floats(0, 20_000), retroactive=st.booleans())
def test_human_text_never_contains_the_victim_blocks_numbers(
        kind: Kind, event: EventType, agency_kind: str, police: bool, victim: tuple[float, float],
        respondent: tuple[float, float] | None, same_place: bool, distance_m: float | None, retroactive: bool) -> None:
    victim_fix = Fix(victim[0], victim[1], 4.0, T0)
    respondent_fix = victim_fix if same_place else None if respondent is None else Fix(*respondent, 7.0, T0)
    msg = message(kind, agency_kind, respondent_fix, victim_fix, distance_m, event, retroactive)
    title, body = human_text(msg, police=police)
    text = title + "\n" + body
    if "victim" in msg:
        assert not any(s in text for s in numerals(msg["victim"]["lat"]) + numerals(msg["victim"]["lon"]))
    assert "http" not in text and "geo:" not in text
