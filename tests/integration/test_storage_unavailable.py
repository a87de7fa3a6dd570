"""A database out of reach is StorageUnavailable (mapped by the DB adapter), and the ingest loop waits it out.

The service layer never sees a driver's error class: ``service.adapters.db.transaction`` turns an
operational, interface or disconnect error into ``StorageUnavailable``, chained to it; any other error
(a constraint) passes through as it is.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import pytest
import sqlalchemy as sa

from service.adapters.db import schema as t
from service.adapters.db.engine import make_engine
from service.adapters.db.transaction import connection, transaction
from service.errors import StorageUnavailable
from service.ingest import IngestLoop
from service.metrics import Metrics
from service.pipeline import Pipeline
from service.wire import Inbound
from tests.integration.test_pipeline import make_pipeline, walk_in


def test_an_unreachable_database_is_storage_unavailable_chained_to_the_driver_error(tmp_path) -> None:
    dead = make_engine(f"sqlite:///{tmp_path / 'no such directory' / 'db.sqlite'}")
    for opened in (transaction, connection):
        with pytest.raises(StorageUnavailable) as caught:
            with opened(dead) as conn:
                conn.execute(sa.text("SELECT 1"))
        assert isinstance(caught.value.__cause__, sa.exc.OperationalError)
        assert "no such directory" not in str(caught.value)  # names the error class only, never its text


def test_other_database_errors_pass_through_unchanged(engine) -> None:
    with pytest.raises(sa.exc.IntegrityError):  # a row without its required columns: the statement is wrong
        with transaction(engine) as conn:
            conn.execute(sa.insert(t.rejected_messages).values(topic="stayaway/v1/devices/x/location"))
    with pytest.raises(ValueError):
        with transaction(engine):
            raise ValueError("not the database's")


class OutageThenBack(Pipeline):
    """The real pipeline, whose database is out of reach for its first ``outages`` batches."""

    def __init__(self, real: Pipeline, dead: sa.Engine, outages: int) -> None:
        super().__init__(real.engine, real.monitor, real.clock, real.max_payload_bytes)
        self.dead, self.outages = dead, outages

    def process(self, items: Sequence[Inbound]):  # type: ignore[no-untyped-def]
        if self.outages:
            self.outages -= 1
            alive, self.engine = self.engine, self.dead
            try:
                return super().process(items)
            finally:
                self.engine = alive
        return super().process(items)


def test_the_ingest_loop_holds_messages_unacknowledged_while_the_database_is_out_of_reach(engine, tmp_path,
                                                                                         caplog) -> None:
    """The batch fails (StorageUnavailable), then the state reload before the retry fails too: it opens
    its own connection (a raw driver error, as the composition root's reload raises it). Both are waited
    out: nothing is split, stored as poison or acknowledged before it is committed."""
    dead = make_engine(f"sqlite:///{tmp_path / 'gone' / 'db.sqlite'}")
    pipeline = OutageThenBack(make_pipeline(engine), dead, outages=1)
    reloads: list[str] = []

    def reload() -> None:
        reloads.append("tried")
        with (dead if len(reloads) == 1 else engine).begin() as conn:  # engine.begin(), not the adapter's helper
            conn.execute(sa.text("SELECT 1"))
        reloads[-1] = "ok"

    acked: list[Inbound] = []
    metrics = Metrics()
    loop = IngestLoop(pipeline, acked.extend, lambda rows: None, reload, metrics, retry_s=0.05)
    for item in walk_in():
        loop.submit(item)
    with caplog.at_level(logging.ERROR, logger="service.ingest"):
        loop.start()
        deadline = time.monotonic() + 20
        while len(acked) < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        loop.stop()
    assert len(acked) == 5 and pipeline.outages == 0 and reloads == ["tried", "ok"]
    counts = metrics.snapshot()
    assert counts.get("db_unavailable") == 2 and not counts.get("batch_failures")  # waited out, never split
    assert "database unavailable (OperationalError)" in caplog.text
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.location_reports)).scalar() == 5
        assert conn.execute(sa.select(sa.func.count()).select_from(t.rejected_messages)).scalar() == 0
