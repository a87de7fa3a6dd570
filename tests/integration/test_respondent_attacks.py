"""Issue 12, played as the respondent through a real Mosquitto with the generated passwords and ACL.

He holds only his own tracker's credentials: he publishes as his tracker (from one or two
connections, with any positions and times he likes) and reads whatever reaches his device.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from service.adapters.db import schema as t
from simulators import SimDevice
from simulators.walk import offset
from tests.integration.test_mqtt_acl import (  # noqa: F401 - fixtures
    Peer,
    accounts,
    broker,
    needs_mosquitto,
    peers,
)
from tests.support import builders
from tests.support.brokers import BrokerInfo
from tests.support.serve import Serve

HER = offset(*builders.HOME, 0, 3000)  # her secret position: 3 km east of home, in the east station's area


def rfc3339(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def wait(predicate, timeout: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


@pytest.fixture
def behind_acl(broker, accounts, tmp_path: Path, db_url) -> Iterator[Serve]:  # type: ignore[no-untyped-def]  # noqa: F811
    """``stayaway serve`` on its service account behind the ACL, on the database the accounts were made in."""
    info = BrokerInfo(f"mqtt://stayaway:{accounts['stayaway']}@127.0.0.1:{broker}", "127.0.0.1", broker, "mosquitto",
                      "3.1.1")
    serve = Serve(info, db_url, tmp_path).start()
    yield serve
    serve.stop()


def alerts_of(peer: Peer, kind: str, event: str = "raised") -> list[dict]:
    bodies = [json.loads(p) for topic, p in list(peer.got) if topic.endswith("/alerts")]
    return [b for b in bodies if b.get("kind") == kind and b.get("event") == event]


@needs_mosquitto
def test_his_commands_topic_no_longer_tells_him_where_she_is(behind_acl, accounts, broker, peers) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """Finding 1: made-up positions on a 1.2 km grid, then read his own topics. One point of the grid lands
    250 m from her: police get the proximity alert, and he gets nothing at all, on any topic he can read."""
    police = peers("police-east")
    police.subscribe("stayaway/v1/agencies/police-east/alerts")
    him = peers("trk-001")  # everything his credentials can read
    him.subscribe("#")
    tracker = SimDevice("trk-001", "127.0.0.1", broker, int(time.time() * 1000), accounts["trk-001"]).connect()
    phone = SimDevice("phone-001", "127.0.0.1", broker, int(time.time() * 1000), accounts["phone-001"]).connect()
    try:
        phone.location(*HER, acc=10.0)
        time.sleep(0.3)
        for i in range(5):
            for j in range(5):
                tracker.location(*offset(*HER, i * 1200 - 2400 + 250, j * 1200 - 2400), acc=5.0)
                time.sleep(0.05)
        assert wait(lambda: alerts_of(police, "proximity"))  # the probe hit her: the oracle would have fired
        # her phone is still sped up while he is near (and set back when he has gone)
        assert wait(lambda: {"cmd": "set_interval", "seconds": 15} in phone.commands)
        time.sleep(1.0)
        assert him.got == [] and tracker.commands == [] and tracker.notices == []
    finally:
        tracker.close()
        phone.close()


@needs_mosquitto
def test_reports_dated_ahead_from_a_second_connection_do_not_demote_his_real_breach(  # type: ignore[no-untyped-def]
        behind_acl, accounts, broker, peers, db_url) -> None:  # noqa: F811
    """Finding 2: a second connection as his tracker dates far-away reports ahead (within and beyond the
    tolerance); his real walk into her home is still a live breach: raised, not retroactive, armed to
    escalate, and she is warned. His reports are flagged as coming from two sources."""
    police = peers("police-west")
    police.subscribe("stayaway/v1/agencies/police-west/alerts")
    forger = peers("trk-001")
    tracker = SimDevice("trk-001", "127.0.0.1", broker, 1, accounts["trk-001"]).connect()
    phone = SimDevice("phone-001", "127.0.0.1", broker, 1, accounts["phone-001"]).connect()
    far = offset(*builders.HOME, 5000, 0)
    try:
        for n, ahead_s in enumerate([25, 29, 240, 290, 25, 28]):
            now = datetime.now(UTC)
            body = {"seq": 10**9 + n, "ts": rfc3339(now + timedelta(seconds=ahead_s)), "lat": round(far[0], 7),
                    "lon": round(far[1], 7), "acc": 5.0}
            forger.publish("stayaway/v1/devices/trk-001/location", json.dumps(body).encode())
        time.sleep(0.5)
        for north in (900, 500, 200):
            tracker.location(*offset(*builders.HOME, north, 0), acc=5.0, ts=datetime.now(UTC) - timedelta(seconds=1))
            time.sleep(0.2)
        assert wait(lambda: alerts_of(police, "zone_breach"))
        [raised] = alerts_of(police, "zone_breach")
        assert raised["retroactive"] is False and raised["status"] == "open"
        behind_acl.add_token("west-dispatch", "police", "police-west")
        status, body = behind_acl.get("/api/v1/alerts?status=open")
        [live] = [a for a in body["alerts"] if a["alert_id"] == raised["alert_id"]]
        assert status == 200 and live["next_escalation_at"]  # it escalates if nobody answers
        assert wait(lambda: any(n["kind"] == "warning" for n in phone.notices))
        assert wait(lambda: alerts_of(police, "device_cloned"))  # police learn that someone forges his tracker
    finally:
        tracker.close()
        phone.close()
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            c = t.location_reports.c
            rows = conn.execute(sa.select(c.seq, c.flags).where(c.device_id == "trk-001")).all()
    finally:
        engine.dispose()
    flags = {seq: set((f or "").split(",")) for seq, f in rows}
    assert {"ts_future"} <= flags[10**9 + 2] and "ts_future" not in flags[10**9]
    assert all("two_sources" in flags[s] for s in (1, 2, 3))


@needs_mosquitto
def test_squatting_his_tracker_s_next_seqs_does_not_hide_his_real_walk(behind_acl, accounts, broker, peers) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """Attack review F1: a second connection publishes far-away reports under the seqs the real tracker will
    send next; the real walk into her home must still raise a live breach, and police learn of the clone."""
    police = peers("police-west")
    police.subscribe("stayaway/v1/agencies/police-west/alerts")
    forger = peers("trk-001")
    far = offset(*builders.HOME, 5000, 0)
    now = datetime.now(UTC)
    squat = [{"seq": s, "ts": rfc3339(now - timedelta(seconds=2)), "lat": round(far[0], 7), "lon": round(far[1], 7),
              "acc": 5.0} for s in range(1, 31)]
    forger.publish("stayaway/v1/devices/trk-001/location", json.dumps(squat).encode())
    forger.close()
    time.sleep(0.5)
    tracker = SimDevice("trk-001", "127.0.0.1", broker, 1, accounts["trk-001"]).connect()
    try:
        for north in (900, 500, 200):
            tracker.location(*offset(*builders.HOME, north, 0), acc=5.0, ts=datetime.now(UTC) - timedelta(seconds=1))
            time.sleep(0.2)
        assert wait(lambda: alerts_of(police, "zone_breach"))
        assert alerts_of(police, "zone_breach")[0]["retroactive"] is False
        assert wait(lambda: alerts_of(police, "device_cloned"))
    finally:
        tracker.close()
