"""Shared fixtures: real databases (SQLite always, PostgreSQL when configured) and a real MQTT broker.

With STAYAWAY_REQUIRE_ALL=1 (set by .ci/run) a missing service or data set fails
the test instead of skipping it, so CI can never go green on skipped tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.brokers import BrokerInfo, start_broker
from tests.support.databases import database_url, postgres_base_url

REPO = Path(__file__).resolve().parents[1]


def skip_or_fail(reason: str) -> None:
    if os.environ.get("STAYAWAY_REQUIRE_ALL") == "1":
        pytest.fail(f"required for this run: {reason}")
    pytest.skip(reason)


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database URL, once per backend."""
    if request.param == "postgres" and not postgres_base_url():
        skip_or_fail("STAYAWAY_TEST_DATABASE_URL is not set (PostgreSQL)")
    with database_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'test.sqlite'}"


@pytest.fixture
def engine(db_url: str):  # type: ignore[no-untyped-def]
    from service.adapters.db.engine import make_engine, migrate

    eng = make_engine(db_url)
    migrate(eng)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def broker() -> Iterator[BrokerInfo]:
    info, handle = start_broker()
    yield info
    if handle is not None:
        handle.stop()  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (real third-party data; see its README for licences)."""
    path = Path(os.environ.get("STAYAWAY_SHARED_DATA", REPO.parent / "shared" / "data"))
    if not path.is_dir():
        if os.environ.get("STAYAWAY_SHARED_DATA_OPTIONAL") == "1":  # .ci/run in a clone with no ../shared
            pytest.skip(f"shared data not found at {path}")
        skip_or_fail(f"shared data not found at {path}")
    return path
