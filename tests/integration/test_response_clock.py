"""Only the agency that must act stops its own clock (issue 13, item 4), through the pipeline and a real
database (SQLite, and PostgreSQL when configured), with restarts from what is stored: the court's
acknowledgement is on record and the police escalation still comes; the police acknowledgement starts the
dispatch deadline, which escalates when missed; accountability counts it as acknowledged, never dispatched."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import orjson
import sqlalchemy as sa

from alerts.accountability import accountability
from alerts.lifecycle import Actor, acknowledge
from geofence import FrameCache
from service.adapters.db import schema as t
from service.domain.directory import Directory
from service.domain.monitoring import Monitor
from service.importing import import_agencies, import_orders
from service.pipeline import Pipeline
from service.reads.accountability import counted_rows
from service.state import rebuild
from service.wire import Inbound
from simulators.walk import offset
from tests.support import builders

T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
POLICE = Actor("west-dispatch", "person", "police-west")
CLERK = Actor("clerk-zhao", "person", "court-xinjin")


def started(engine, clock: list[datetime]) -> Pipeline:  # type: ignore[no-untyped-def]
    """A serve process's state as a restart builds it: everything from the database."""
    import uuid

    monitor = Monitor(FrameCache(), Directory([]), lambda: str(uuid.uuid4()))
    with engine.begin() as conn:
        rebuild(monitor, conn, now=clock[0])
    return Pipeline(engine, monitor, lambda: clock[0], 256 * 1024)


def row(engine, alert_id: str) -> dict:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(t.alerts).where(t.alerts.c.alert_id == alert_id)).mappings().one())


def log(engine, alert_id: str) -> list[dict]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(t.alert_log).where(t.alert_log.c.alert_id == alert_id)
                                              .order_by(t.alert_log.c.event_seq)).mappings()]


def test_a_court_acknowledgement_stops_nothing_and_a_missed_dispatch_deadline_escalates(engine) -> None:  # type: ignore[no-untyped-def]
    agencies = json.loads(json.dumps(builders.AGENCIES))
    west = next(f for f in agencies["features"] if f["properties"]["agency_id"] == "police-west")
    west["properties"]["response"] = {"dispatch_s": 120, "on_scene_s": 900}
    clock = [T0 - timedelta(minutes=1)]
    import_agencies(engine, agencies, lambda: clock[0])
    import_orders(engine, [(builders.order(**builders.ZONES_ONLY), "a.json")], lambda: clock[0])
    pipeline = started(engine, clock)
    for seq, north in enumerate([900, 200], start=1):  # he walks into her home zone
        clock[0] = T0 + timedelta(seconds=seq)
        body = builders.location(seq, *offset(*builders.HOME, north, 0), ts=clock[0])
        pipeline.process([Inbound("stayaway/v1/devices/trk-001/location", orjson.dumps(body), clock[0])])
    [(alert_id, (_, alert, _))] = list(pipeline.monitor.open_alerts.items())
    raised_at = alert.raised_at
    first_step = raised_at + timedelta(seconds=60)  # the default critical policy
    stored = row(engine, alert_id)
    assert (stored["owner"], stored["response"], stored["next_escalation_at"]) == ("police-west", [120.0, 900.0], first_step)

    clock[0] = raised_at + timedelta(seconds=20)
    noted, _ = pipeline.act(alert_id, lambda a, at: acknowledge(a, CLERK, at, "seen at the court"), "clerk-zhao")
    assert noted.status.value == "open" and noted.next_escalation_at == first_step
    entry = log(engine, alert_id)[-1]
    assert (entry["event"], entry["status"], entry["actor"], entry["note"]) == ("updated", "open", "clerk-zhao",
                                                                             "seen at the court")
    assert {m["action"] for m in entry["message"].values()} == {"acknowledged_by_other"}
    assert {m["actor_agency"] for m in entry["message"].values()} == {"court-xinjin"}
    stored = row(engine, alert_id)
    assert (stored["status"], stored["acknowledged_at"], stored["next_escalation_at"]) == ("open", None, first_step)

    pipeline = started(engine, clock)  # a restart: the clock is the stored alert's
    clock[0] = first_step + timedelta(milliseconds=300)
    pipeline.tick()
    escalated = [e for e in log(engine, alert_id) if e["event"] == "escalated"]
    assert len(escalated) == 1 and escalated[0]["at"] == clock[0]
    assert escalated[0]["message"]["police-west"]["escalation"]["deadline"] == "acknowledge"

    clock[0] = raised_at + timedelta(seconds=90)
    acked, _ = pipeline.act(alert_id, lambda a, at: acknowledge(a, POLICE, at), "west-dispatch")
    due = clock[0] + timedelta(seconds=120)
    assert (acked.status.value, acked.dispatch_due_at, acked.next_escalation_at) == ("acknowledged", due, due)
    pipeline = started(engine, clock)  # again: the deadlines are stored
    clock[0] = raised_at + timedelta(seconds=200)  # the policy's 120 s step is past: it does not come any more
    pipeline.tick()
    clock[0] = due - timedelta(seconds=1)
    pipeline.tick()
    assert len([e for e in log(engine, alert_id) if e["event"] == "escalated"]) == 1
    clock[0] = due + timedelta(seconds=1)
    pipeline.tick()
    steps = [e for e in log(engine, alert_id) if e["event"] == "escalated"]
    assert len(steps) == 2 and steps[1]["status"] == "acknowledged"
    assert steps[1]["message"]["court-xinjin"]["escalation"] == {"level": 1, "action": "supervisor",
                                                                  "deadline": "dispatch", "overdue_s": 1.0}
    stored = row(engine, alert_id)
    assert stored["missed"] == [["acknowledge", "police-west"], ["dispatch", "police-west"]]
    assert stored["next_escalation_at"] == acked.acknowledged_at + timedelta(seconds=900)  # on scene next

    with engine.connect() as conn:
        rows, escalated_ids = counted_rows(conn, T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    table = accountability(rows, escalated_ids)
    west_figures = table[("police-west", "zone_breach")].summary()
    court_figures = table[("court-xinjin", "zone_breach")].summary()
    assert west_figures["acknowledged_never_dispatched"] == 1
    assert west_figures["missed_deadlines"] == {"acknowledge": 1, "dispatch": 1, "on_scene": 0}
    assert west_figures["time_to_acknowledge"]["p50_s"] == 90.0  # the police's, not the clerk's 20 s
    assert court_figures["owned"] == 0 and court_figures["time_to_acknowledge"]["n"] == 0
