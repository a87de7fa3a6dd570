"""Agencies' SMS, e-mail and chat through Apprise: ``stayaway serve`` with STAYAWAY_APPRISE_CONFIG, a real
broker, wire-level devices, and Apprise's own JSON plugin posting to a local HTTP receiver."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa

from service.adapters.db import schema as t
from simulators.walk import offset
from tests.support import builders


class Inbox:
    """A loopback HTTP endpoint standing in for the SMS gateway and the chat service."""

    def __init__(self) -> None:
        self.got: list[tuple[str, dict]] = []
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                inbox.got.append((self.path, json.loads(body)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def texts(self, path: str) -> list[str]:
        return [f"{m['title']}\n{m['message']}" for p, m in list(self.got) if p == path]


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    box = Inbox()
    yield box
    box.close()


def wait(predicate, timeout: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not predicate():
        time.sleep(0.05)
    return predicate()


@pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")
def test_police_and_court_get_readable_texts_that_never_place_the_victim(devices, console, loaded, sqlite_url,
                                                                        tmp_path, inbox) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "apprise.txt"
    config.write_text(f"police-west=json://gateway:s3cret-token@127.0.0.1:{inbox.port}/sms\n"
                      f"court-xinjin=json://127.0.0.1:{inbox.port}/court-chat\n")
    serve = loaded(sqlite_url)
    serve.env["STAYAWAY_APPRISE_CONFIG"] = str(config)
    serve.start()
    tracker, phone = devices()
    now = datetime.now(UTC)
    victim = offset(*builders.HOME, 30, 40)
    phone.location(*victim, acc=8.0, ts=now)
    for i, north in enumerate([900, 200]):
        tracker.location(*offset(*builders.HOME, north, 0), acc=5.0, ts=now + timedelta(seconds=i))
    phone.panic(*victim, acc=8.0, ts=now + timedelta(seconds=3))
    assert console.wait_for(lambda: len(console.where(kind="panic", event="raised")) == 2)
    assert wait(lambda: any("PANIC" in x for x in inbox.texts("/sms")) and any("PANIC" in x for x in inbox.texts("/court-chat")))
    assert wait(lambda: any("Zone breach" in x for x in inbox.texts("/sms")))
    police, court = inbox.texts("/sms"), inbox.texts("/court-chat")
    breach = next(x for x in police if "Zone breach" in x)
    assert "Respondent at" in breach  # police may read where he is
    assert not any("Respondent at" in x for x in court)  # the court may not
    for text in police + court:  # her position, in any usual rounding, is in no text
        for digits in (3, 4, 5, 6):
            assert f"{victim[0]:.{digits}f}" not in text and f"{victim[1]:.{digits}f}" not in text
    engine = sa.create_engine(sqlite_url)
    try:
        assert wait(lambda: _undelivered(engine) == 0 and _deliveries(engine) >= 4)
        with engine.connect() as conn:
            targets = conn.execute(sa.select(t.webhook_attempts.c.target)).scalars().all()
            channels = set(conn.execute(sa.select(t.webhook_deliveries.c.channel)).scalars())
    finally:
        engine.dispose()
    assert channels == {"apprise"}
    assert targets and all(x and "s3cret-token" not in x for x in targets)  # receipts name the service, masked


def _deliveries(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(t.webhook_deliveries)).scalar_one()


def _undelivered(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(t.webhook_deliveries)
                            .where(t.webhook_deliveries.c.delivered_at.is_(None))).scalar_one()
