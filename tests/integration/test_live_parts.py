"""The live parts the composition root wires (issue 14): sent-marks, an officer's step, the watchdog.

Each runs its work on the ingest thread through ``call_soon``; here a list stands for that thread, so
a test decides when the queued work runs, against a real database and a real pipeline.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import orjson
import pytest
import sqlalchemy as sa

from alerts.lifecycle import LifecycleError
from service.adapters.db import schema as t
from service.alert_actions import AlertActions
from service.deliveries import SentMarks
from service.errors import NotFound
from service.watchdog import Watchdog
from tests.integration.test_pipeline import T0, make_pipeline, walk_in


class IngestThread:
    """What ``loop.call_soon`` would queue, run when the test says."""

    def __init__(self) -> None:
        self.tasks: list[Callable[[], None]] = []

    def call_soon(self, task: Callable[[], None]) -> None:
        self.tasks.append(task)

    def run(self) -> None:
        tasks, self.tasks = self.tasks, []
        for task in tasks:
            task()


def outbox_ids(engine) -> list[int]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return list(conn.execute(sa.select(t.outbox.c.id).order_by(t.outbox.c.id)).scalars())


def sent(engine) -> dict[int, int]:  # type: ignore[no-untyped-def]
    """outbox id -> attempts, for the rows marked sent."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.outbox.c.id, t.outbox.c.attempts).where(t.outbox.c.sent_at.is_not(None)))
        return dict(rows.all())


def test_sent_marks_acknowledged_while_a_write_waits_join_it_and_a_failed_write_keeps_them(engine) -> None:
    pipeline = make_pipeline(engine)
    pipeline.process(walk_in())
    ids = outbox_ids(engine)
    assert len(ids) >= 2
    ingest = IngestThread()
    marks = SentMarks(engine, lambda: T0 + timedelta(hours=1), ingest.call_soon)
    marks.on_sent(ids[:1])
    marks.on_sent(ids[1:])
    assert len(ingest.tasks) == 1 and sent(engine) == {}  # one write queued, nothing written off the thread
    ingest.run()
    assert sent(engine) == {i: 1 for i in ids}

    broken = SentMarks(sa.create_engine("sqlite:////nonexistent/dir/db.sqlite"), lambda: T0, ingest.call_soon)
    broken.on_sent([7, 8])
    with pytest.raises(Exception):  # noqa: B017 - any failure: the ids must stay
        ingest.run()
    broken.engine = engine  # the database is back: the next write takes the kept ids along
    broken.on_sent([9])
    ingest.run()
    assert broken._ids == [] and not ingest.tasks


def test_an_officer_step_runs_on_the_ingest_thread_and_a_referral_needs_a_known_agency(engine) -> None:
    pipeline = make_pipeline(engine)
    pipeline.process(walk_in())
    open_ids = list(pipeline.monitor.open_alerts)
    assert open_ids
    published: list[list] = []
    ingest_thread: list[str] = []

    def call_soon(task: Callable[[], None]) -> None:  # a real thread, as the ingest loop's
        def run() -> None:
            ingest_thread.append(threading.current_thread().name)
            task()
        threading.Thread(target=run, name="ingest").start()

    actions = AlertActions(pipeline, pipeline.monitor.directory, call_soon, published.append)
    body = {"actor": "officer-1", "agency_id": "police-west", "to_agency": "police-nowhere", "note": "n"}
    with pytest.raises(LifecycleError) as refused:
        actions.apply(open_ids[0], "refer", body)
    assert refused.value.code == "unknown_agency" and published == []
    with pytest.raises(NotFound):
        actions.apply("no-such-alert", "acknowledge", {"actor": "officer-1", "agency_id": "police-west"})
    alert = actions.apply(open_ids[0], "acknowledge", {"actor": "officer-1", "agency_id": "police-west"})
    assert alert.acknowledged_by == "officer-1" and alert.acknowledged_at is not None
    assert set(ingest_thread) == {"ingest"} and len(published) == 1 and published[0]  # its messages, after commit


class Session:
    def __init__(self, subscribed: bool) -> None:
        self.subscribed = threading.Event()
        if subscribed:
            self.subscribed.set()


def test_the_watchdog_counts_silence_only_while_both_sessions_listen(engine) -> None:
    pipeline = make_pipeline(engine)
    pipeline.process(walk_in())  # his tracker was heard at T0
    now = [T0 + timedelta(hours=1)]
    pipeline.clock = lambda: now[0]
    reports, panics = Session(True), Session(False)
    out: list[list] = []
    dog = Watchdog(pipeline, [reports, panics], lambda: now[0], lambda task: task(), out.append)
    dog.tick()
    assert out == []  # one session down: our outage, not a device's silence; nothing is looked at
    panics.subscribed.set()
    dog.tick()
    listening = now[0]
    now[0] += timedelta(hours=2)  # long after any device's deadline, but counted from when we listened
    dog.tick()
    assert dog._listening_since == listening and len(out) == 2
    def kinds(batch: list) -> set[str]:
        return {orjson.loads(m.payload)["kind"] for m in batch if m.topic.endswith("/alerts")}

    assert kinds(out[0]) == set()  # just listening: no device has been silent for long since
    assert "signal_lost" in kinds(out[1])  # silent since we listened: raised, its messages after the commit
