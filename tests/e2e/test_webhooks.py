"""An agency with a webhook gets every alert message signed over HTTP too, retried until it answers 2xx."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa

from service.adapters.channels.webhook import verify
from service.adapters.db import schema as t
from simulators import SimDevice
from simulators.walk import offset
from tests.e2e.conftest import write_json
from tests.support import builders

SECRET = "test-webhook-secret-0123456789"


class Receiver:
    """A real HTTP endpoint on loopback that refuses the first ``fail_first`` requests with 503."""

    def __init__(self, fail_first: int) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.answers: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = 503 if len(receiver.answers) < fail_first else 200
                receiver.answers.append(status)
                if status == 200:
                    receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(status)
                self.send_header("Retry-After", "1")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/stayaway"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()  # the listening socket too


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(fail_first=2)
    yield r
    r.close()


def test_alert_messages_reach_the_agency_webhook_signed_after_its_outage(broker, serve_factory, tmp_path, sqlite_url,
                                                                        receiver, console) -> None:  # type: ignore[no-untyped-def]
    agencies = json.loads(json.dumps(builders.AGENCIES))
    agencies["features"][0]["properties"]["webhook_url"] = receiver.url  # police-west
    serve = serve_factory(sqlite_url)
    serve.env["STAYAWAY_WEBHOOK_SECRET"] = SECRET
    serve.cli("agencies", "import", write_json(tmp_path / "agencies.geojson", agencies))
    serve.cli("orders", "import", write_json(tmp_path / "orders.json", [builders.order(**builders.ZONES_ONLY)]))
    serve.start()
    tracker = SimDevice("trk-001", broker.host, broker.port, int(time.time() * 1000)).connect()
    try:
        now = datetime.now(UTC)
        for i, north in enumerate([900, 200]):
            tracker.location(*offset(*builders.HOME, north, 0), acc=5.0, ts=now + timedelta(seconds=i))
        assert console.wait_for(lambda: len(console.where(kind="zone_breach", event="raised")) == 2)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not receiver.received:
            time.sleep(0.1)
    finally:
        tracker.close()
    assert receiver.answers[:3] == [503, 503, 200]
    [(headers, body)] = receiver.received
    assert verify(SECRET.encode(), headers["x-stayaway-timestamp"], body, headers["x-stayaway-signature"], time.time())
    assert not verify(b"another secret", headers["x-stayaway-timestamp"], body, headers["x-stayaway-signature"], time.time())
    message = json.loads(body)
    mqtt = console.where(kind="zone_breach", event="raised", agency_id="police-west")[0]
    assert message == {k: v for k, v in mqtt.items() if k != "_retain"}  # the same message as on MQTT
    assert headers["x-stayaway-event-id"] == message["event_id"]
    engine = sa.create_engine(sqlite_url)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # the last attempt is recorded right after it returns
        with engine.connect() as conn:
            attempts = conn.execute(sa.select(t.webhook_attempts.c.attempt_no, t.webhook_attempts.c.status_code)
                                    .order_by(t.webhook_attempts.c.id)).all()
            delivered = conn.execute(sa.select(t.webhook_deliveries.c.delivered_at)).scalars().all()
        if len(attempts) >= 3:
            break
        time.sleep(0.1)
    engine.dispose()
    assert [tuple(a) for a in attempts] == [(1, 503), (2, 503), (3, 200)]
    assert len(delivered) == 1 and delivered[0] is not None  # one delivery: police-west only (the court has none)
