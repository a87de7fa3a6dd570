"""Replaying real tracks and scenarios as wire messages: planning (no broker) and publishing over a real broker,
checked by a plain paho subscriber and the backend's own decoder (PROTOCOL.md section 1)."""

from __future__ import annotations

import itertools
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import pytest

from service.wire import decode
from simulators.device import SimDevice
from simulators.replay import plan, replay, replay_to
from simulators.scenarios import SCENARIOS, Scenario, Step, load_order, run_scenario
from simulators.tracks import Track, TrackPoint, read_track
from tests.support.brokers import BrokerInfo

BAD_FLAGS = {"ts_future", "ts_implausible", "unknown_fields"}
T0 = datetime(2030, 1, 1, tzinfo=UTC)


def ts(body: dict) -> datetime:  # type: ignore[type-arg]
    return datetime.fromisoformat(body["ts"])


def posmo(shared_data: Path) -> Track:
    return read_track(shared_data / "trajectories" / "phone_tracks" / "posmo_trajectory.csv")


# --- planning, no broker ------------------------------------------------------------------------------------------

def test_plan_shifts_times_and_waits_by_the_real_gaps(shared_data: Path) -> None:
    track = posmo(shared_data).slice(50, 80)  # holds the backward step at index 59 (20:03:26.000 -> 20:03:25.865)
    planned = plan(track, T0, speedup=4, first_seq=7)
    bodies = [p.body for p in planned]
    assert [b["seq"] for b in bodies] == list(range(7, 37))  # type: ignore[index]
    assert ts(bodies[0]) == T0  # type: ignore[arg-type]
    for i in range(1, 30):
        real = track.points[i].ts - track.points[i - 1].ts
        shifted = ts(bodies[i]) - ts(bodies[i - 1])  # type: ignore[arg-type]
        assert abs(shifted - real) <= timedelta(milliseconds=1)  # RFC 3339 at ms precision
        wait = planned[i].send_at_s - planned[i - 1].send_at_s
        assert wait == pytest.approx(max(0.0, real.total_seconds()) / 4)
    back = [i for i in range(1, 30) if ts(bodies[i]) < ts(bodies[i - 1])]  # type: ignore[arg-type]
    assert back == [i - 50 for i in posmo(shared_data).backward_steps() if 50 < i < 80] == [9]
    # POSMO's 0.0 accuracy is unknown: the default 10 m goes on the wire
    assert all(b["acc"] == (p.acc_m or 10.0) for b, p in zip(bodies, track.points, strict=True))  # type: ignore[index]


def test_plan_caps_gaps_after_speedup(shared_data: Path) -> None:
    track = read_track(shared_data / "trajectories" / "phone_tracks" / "geolife_trajectory.csv").slice(590, 600)
    planned = plan(track, T0, speedup=10, max_gap_s=2)
    waits = [b.send_at_s - a.send_at_s for a, b in itertools.pairwise(planned)]
    assert max(waits) == 2 and waits[5] == 2  # the 14,267 s gap after row 595
    assert ts(planned[6].body) - ts(planned[5].body) == timedelta(seconds=14267)  # type: ignore[arg-type]


def test_plan_google_cell_fixes_and_descending_order(shared_data: Path) -> None:
    track = read_track(shared_data / "trajectories" / "phone_tracks" / "google_trajectory.csv")
    planned = plan(track, T0)
    assert all(p.send_at_s == 0 for p in planned)  # every gap goes backwards: nothing to wait for
    cell = [p.body for p in planned if p.body.get("src") == "cell"]  # type: ignore[union-attr]
    assert len(cell) == 199 and all(b["acc"] >= 500 for b in cell)  # type: ignore[index]
    ordered = plan(track, T0, order="time")
    assert [ts(p.body) for p in ordered] == sorted(ts(p.body) for p in ordered)  # type: ignore[arg-type]
    assert ts(ordered[-1].body) - ts(ordered[0].body) == timedelta(hours=9, minutes=37, seconds=5)  # type: ignore[arg-type]


def test_plan_refuses_a_broken_clock_unless_told(shared_data: Path) -> None:
    track = read_track(shared_data / "trajectories" / "gpx" / "Mojstrovka.gpx")
    with pytest.raises(ValueError, match="before 2000"):
        plan(track, T0)
    even = plan(track, T0, speedup=2, fixed_interval_s=5)
    assert [p.send_at_s for p in even[:3]] == [0, 2.5, 5.0]
    assert [ts(p.body) for p in even[:2]] == [T0, T0 + timedelta(seconds=5)]  # type: ignore[arg-type]
    raw = plan(track, T0, keep_device_time=True)
    assert {p.body["ts"][:19] for p in raw} == {"1901-12-13T20:45:52"}  # type: ignore[index]
    d = decode("stayaway/v1/devices/trk-x/location", orjson.dumps(raw[0].body), datetime.now(UTC))
    assert d.rejections or "ts_implausible" in d.reports[0].flags  # the backend sees the bad clock


def test_plan_batch_splits_into_arrays() -> None:
    pts = [TrackPoint(T0 + timedelta(seconds=i), 30.0, 103.0 + i / 1e4, speed_mps=1.0, heading_deg=90.0, src="gps")
           for i in range(12)]
    planned = plan(Track("synthetic", "csv", pts), T0 - timedelta(hours=1), batch=True, batch_max=5)
    assert [len(p.reports) for p in planned] == [5, 5, 2] and {p.send_at_s for p in planned} == {0.0}
    assert [r["seq"] for p in planned for r in p.reports] == list(range(1, 13))
    assert planned[0].reports[0] == {"seq": 1, "ts": "2029-12-31T23:00:00.000Z", "lat": 30.0, "lon": 103.0,
                                     "acc": 10.0, "spd": 1.0, "hdg": 90.0, "src": "gps"}


# --- over a real broker -------------------------------------------------------------------------------------------

@dataclass
class Received:
    topic: str
    payload: bytes
    at: datetime


class Listener:
    """A plain paho client subscribed to every device topic."""

    def __init__(self, broker: BrokerInfo) -> None:
        self.inbox: queue.Queue[Received] = queue.Queue()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"listener-{uuid.uuid4().hex[:8]}",
                                  protocol=mqtt.MQTTv311)
        self.client.on_message = lambda _c, _u, m: self.inbox.put(Received(m.topic, m.payload, datetime.now(UTC)))
        self.client.on_subscribe = lambda *_a: self._subscribed.set()
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        self.client.subscribe([(f"stayaway/v1/devices/+/{k}", 1) for k in ("location", "status", "panic")])
        assert self._subscribed.wait(10), "subscription not acknowledged"

    def collect(self, device_ids: set[str], n: int, timeout: float = 20.0) -> list[Received]:
        out: list[Received] = []
        deadline = time.monotonic() + timeout
        while len(out) < n and time.monotonic() < deadline:
            try:
                r = self.inbox.get(timeout=0.2)
            except queue.Empty:
                continue
            if r.topic.split("/")[3] in device_ids:
                out.append(r)
        time.sleep(0.3)  # anything extra would show up as a surplus
        while not self.inbox.empty():
            r = self.inbox.get()
            if r.topic.split("/")[3] in device_ids:
                out.append(r)
        return out

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def listener(broker: BrokerInfo) -> Iterator[Listener]:
    lst = Listener(broker)
    yield lst
    lst.close()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def decoded(r: Received) -> list:  # type: ignore[type-arg]
    d = decode(r.topic, r.payload, r.at)
    assert d.rejections == [], [(x.reason, x.detail) for x in d.rejections]
    for rep in d.reports:
        assert not BAD_FLAGS & set(rep.flags), rep.flags
    return d.reports  # type: ignore[return-value]


def test_replay_real_posmo_slice(broker: BrokerInfo, listener: Listener, shared_data: Path) -> None:
    track = posmo(shared_data).slice(50, 80)
    dev_id = unique("posmo")
    device = SimDevice(dev_id, broker.host, broker.port, first_seq=100).connect()
    try:
        started = time.monotonic()
        planned = replay(track, device, datetime.now(UTC) - timedelta(minutes=5), speedup=100)
        elapsed = time.monotonic() - started
    finally:
        device.close()
    got = listener.collect({dev_id}, 30)
    assert len(got) == 30 and device.seq == 129
    assert elapsed >= planned[-1].send_at_s * 0.95  # the gaps were waited
    reports = [rep for r in got for rep in decoded(r)]
    assert all(r.topic == f"stayaway/v1/devices/{dev_id}/location" for r in got)
    assert [r.seq for r in reports] == list(range(100, 130))
    assert [(r.lat, r.lon) for r in reports] == [(round(p.lat, 7), round(p.lon, 7)) for p in track.points]
    assert sum(b.ts < a.ts for a, b in itertools.pairwise(reports)) == 1  # POSMO's out-of-order row


def test_replay_google_buffer_as_one_array(broker: BrokerInfo, listener: Listener, shared_data: Path) -> None:
    track = read_track(shared_data / "trajectories" / "phone_tracks" / "google_trajectory.csv").slice(0, 40)
    dev_id = unique("google")
    replay_to(track, dev_id, broker.host, broker.port, start=datetime.now(UTC) - timedelta(hours=2), batch=True)
    (msg,) = listener.collect({dev_id}, 1)
    assert orjson.loads(msg.payload)[0]["seq"] == 1
    reports = decoded(msg)
    assert len(reports) == 40 and [r.seq for r in reports] == list(range(1, 41))
    assert all(r.ts < msg.at for r in reports)
    assert [r.src for r in reports] == [("cell" if (p.acc_m or 0) >= 500 else None) for p in track.points]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_run_scenario_over_the_broker(broker: BrokerInfo, listener: Listener, name: str) -> None:
    sc = SCENARIOS[name]()
    ids = {"respondent": unique("trk"), "victim": unique("phone")}
    devs = {p: SimDevice(i, broker.host, broker.port).connect() for p, i in ids.items()}
    try:
        sent = run_scenario(sc, devs["respondent"], devs["victim"], speedup=sc.duration_s / 1.5)
    finally:
        for d in devs.values():
            d.close()
    got = listener.collect(set(ids.values()), len(sc.steps))
    assert len(got) == len(sent) == len(sc.steps)
    by_device: dict[str, list[int]] = {i: [] for i in ids.values()}
    for r in got:
        reports = decoded(r)
        by_device[r.topic.split("/")[3]] += [rep.seq for rep in reports]
    for party, dev_id in ids.items():
        seqs = by_device[dev_id]
        assert seqs == list(range(1, len(seqs) + 1)) and devs[party].seq == len(seqs)  # type: ignore[index]
    kinds = sorted((r.topic.split("/")[3] == ids["victim"], r.topic.rsplit("/", 1)[1]) for r in got)
    assert kinds == sorted((s.device == "victim", s.message) for s in sc.steps)
    for r in got:
        body = orjson.loads(r.payload)
        if isinstance(body, list):  # the backfill: every fix older than its arrival
            assert all(datetime.fromisoformat(b["ts"]) < r.at for b in body)


def test_run_scenario_sends_a_panic(broker: BrokerInfo, listener: Listener) -> None:
    start = datetime(2026, 11, 21, 8, tzinfo=UTC)
    o = load_order()
    steps = [Step(0, "victim", "location", {"ts": start, "lat": o.home[0], "lon": o.home[1], "acc": 8.0}),
             Step(0.5, "victim", "panic", {"ts": start + timedelta(seconds=0.5), "lat": o.home[0], "lon": o.home[1],
                                           "acc": 8.0, "silent": True})]
    sc = Scenario("panic", "a silent panic", start, steps, [], frozenset())
    victim = SimDevice(unique("phone"), broker.host, broker.port).connect()
    respondent = SimDevice(unique("trk"), broker.host, broker.port).connect()
    try:
        run_scenario(sc, respondent, victim, speedup=5)
    finally:
        victim.close()
        respondent.close()
    got = listener.collect({victim.device_id}, 2)
    assert [r.topic.rsplit("/", 1)[1] for r in got] == ["location", "panic"]
    (press,) = decoded(got[1])
    assert press.silent is True and press.seq == 2 and press.flags == ()
