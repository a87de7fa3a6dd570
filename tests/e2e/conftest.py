from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulators import SimDevice
from tests.support import builders
from tests.support.serve import Console, Serve


@pytest.fixture
def console(broker) -> Iterator[Console]:  # type: ignore[no-untyped-def]
    c = Console(broker)
    yield c
    c.close()


@pytest.fixture
def serve_factory(broker, tmp_path: Path) -> Iterator:  # type: ignore[no-untyped-def]
    started: list[Serve] = []

    def make(db_url: str, client_id: str | None = None) -> Serve:
        s = Serve(broker, db_url, tmp_path, client_id)
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()


def write_json(path: Path, body: object) -> str:
    path.write_text(json.dumps(body))
    return str(path)


@pytest.fixture
def loaded(serve_factory, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A serve process (not started) whose database holds the test agencies and the example order
    (its fixed zones only, unless ``orders`` says otherwise)."""

    def make(db_url: str, orders: list[dict] | None = None, client_id: str | None = None) -> Serve:
        s = serve_factory(db_url, client_id)
        s.cli("agencies", "import", write_json(tmp_path / "agencies.geojson", builders.AGENCIES))
        s.cli("orders", "import", write_json(tmp_path / "orders.json", orders or [builders.order(**builders.ZONES_ONLY)]))
        s.add_token("west-dispatch", "police", "police-west")  # the default for requests
        return s

    return make


@pytest.fixture
def devices(broker):  # type: ignore[no-untyped-def]
    """``devices(n=1)``: order n's tracker and phone (``trk-00n``, ``phone-00n``), connected; all closed after
    the test. A device left connected would fight the next test's device with the same client id for the
    broker session (each takeover drops the other), so every test closes what it opened."""
    made: list[SimDevice] = []

    def make(n: int = 1) -> tuple[SimDevice, SimDevice]:
        first = int(time.time() * 1000)
        pair = (SimDevice(f"trk-{n:03d}", broker.host, broker.port, first).connect(),
                SimDevice(f"phone-{n:03d}", broker.host, broker.port, first).connect())
        made.extend(pair)
        return pair

    yield make
    for device in made:
        device.close()
