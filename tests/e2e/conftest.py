from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

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
        return s

    return make
