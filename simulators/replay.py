"""Replaying a real :class:`~simulators.tracks.Track` as wire location reports (PROTOCOL.md section 1).

Planning (what to send, when) is pure and separate from sending::

    steps = plan(track, start=datetime.now(UTC), speedup=20, max_gap_s=5)
    replay(track, SimDevice("trk-001", "127.0.0.1", 1883).connect(), speedup=20)

Timing. Points are published in track order (file order, unless ``order="time"``). The wait before a
point is its real time gap to the previous point divided by ``speedup``, capped at ``max_gap_s``; a
gap that goes backwards in time (out-of-order rows) means no wait.

Device time. ``ts`` is the point's time shifted so the first published point carries ``start``: gaps
are kept as they were, out-of-order rows stay out of order. With ``speedup > 1`` and ``start`` = now,
later reports therefore carry times ahead of the wall clock (a backend flags ``ts`` more than 5 min in
the future); pass an earlier ``start`` to replay a long track fast. ``keep_device_time=True`` sends the
file's own times (e.g. a broken 1901 clock, to test that the backend rejects it); ``fixed_interval_s``
ignores the file's times and spaces the points evenly (the only way to replay a broken-clock track with
shifted times: :func:`plan` refuses a track whose :meth:`~simulators.tracks.Track.clock_problem` is set).

Batch. ``batch=True`` sends everything at once as JSON arrays of up to ``batch_max`` reports (a
tracker uploading its buffer after being offline); their ``ts`` lie in the past when ``start`` does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from simulators.device import SimDevice, rfc3339
from simulators.tracks import Track, TrackPoint

DEFAULT_ACC_M = 10.0
SOURCES = ("gps", "wifi", "cell")


@dataclass(frozen=True)
class Planned:
    """One publication: ``send_at_s`` wall seconds after the replay starts, ``body`` one report or an array."""

    send_at_s: float
    body: dict[str, Any] | list[dict[str, Any]]

    @property
    def reports(self) -> list[dict[str, Any]]:
        return self.body if isinstance(self.body, list) else [self.body]


def report(point: TrackPoint, seq: int, ts: datetime, default_acc_m: float = DEFAULT_ACC_M) -> dict[str, Any]:
    """The wire body of one location report for ``point``: only fields the contract allows, in range."""
    acc = point.acc_m if point.acc_m is not None and point.acc_m > 0 else default_acc_m
    body: dict[str, Any] = {"seq": seq, "ts": rfc3339(ts), "lat": round(point.lat, 7), "lon": round(point.lon, 7),
                            "acc": round(acc, 1) or default_acc_m}
    if point.speed_mps is not None and point.speed_mps >= 0:
        body["spd"] = round(point.speed_mps, 2)
    if point.heading_deg is not None and 0 <= point.heading_deg <= 360:
        body["hdg"] = round(point.heading_deg, 1)
    if point.src in SOURCES:
        body["src"] = point.src
    return body


def plan(track: Track, start: datetime | None = None, speedup: float = 1.0, *, max_gap_s: float | None = None,
         batch: bool = False, batch_max: int = 500, first_seq: int = 1, default_acc_m: float = DEFAULT_ACC_M,
         keep_device_time: bool = False, fixed_interval_s: float | None = None,
         order: Literal["file", "time"] = "file") -> list[Planned]:
    """What to publish and when; see the module docstring. ``seq`` runs from ``first_seq`` in publish order."""
    if speedup <= 0:
        raise ValueError("speedup must be > 0")
    if batch_max < 1:
        raise ValueError("batch_max must be >= 1")
    points = list(track.points) if order == "file" else sorted(track.points, key=lambda p: p.ts)
    if not points:
        return []
    problem = track.clock_problem()
    if problem and not keep_device_time and fixed_interval_s is None:
        raise ValueError(f"{track.source}: {problem}; pass fixed_interval_s= or keep_device_time=True")
    start = (start or datetime.now(UTC)).astimezone(UTC)

    def device_ts(i: int, p: TrackPoint) -> datetime:
        if keep_device_time:
            return p.ts
        if fixed_interval_s is not None:
            return start + timedelta(seconds=i * fixed_interval_s)
        return start + (p.ts - points[0].ts)

    times = [device_ts(i, p) for i, p in enumerate(points)]
    bodies = [report(p, first_seq + i, times[i], default_acc_m) for i, p in enumerate(points)]
    if batch:
        return [Planned(0.0, bodies[i:i + batch_max]) for i in range(0, len(bodies), batch_max)]
    out: list[Planned] = []
    at = 0.0
    for i, body in enumerate(bodies):
        if i:
            gap = fixed_interval_s if fixed_interval_s is not None else (points[i].ts - points[i - 1].ts).total_seconds()
            wait = max(0.0, gap) / speedup
            at += min(wait, max_gap_s) if max_gap_s is not None else wait
        out.append(Planned(at, body))
    return out


def send_planned(planned: list[Planned], device: SimDevice,
                 sleep: Callable[[float], None] = time.sleep) -> list[Planned]:
    """Publish ``planned`` on ``device``'s location topic at their offsets from now; returns them."""
    t0 = time.monotonic()
    for i, item in enumerate(planned):
        delay = t0 + item.send_at_s - time.monotonic()
        if delay > 0:
            sleep(delay)
        device.send("location", item.body, wait=i == len(planned) - 1)
    return planned


def replay(track: Track, device: SimDevice, start: datetime | None = None, speedup: float = 1.0,
           **options: Any) -> list[Planned]:
    """Plan ``track`` (``options`` as for :func:`plan`) with seq continuing ``device``'s counter, and send it."""
    planned = plan(track, start, speedup, first_seq=device.seq + 1, **options)
    device.seq += sum(len(p.reports) for p in planned)
    return send_planned(planned, device)


def replay_to(track: Track, device_id: str, host: str = "127.0.0.1", port: int = 1883, first_seq: int = 1,
              start: datetime | None = None, speedup: float = 1.0, *, url: str | None = None,
              password: str | None = None, ca_file: str | None = None, **options: Any) -> list[Planned]:
    """As :func:`replay`, on a SimDevice of its own that is connected for the replay and closed after;
    ``url`` (``mqtt://`` or ``mqtts://``, with ``ca_file``) instead of ``host`` and ``port``."""
    device = (SimDevice.from_url(device_id, url, first_seq, password, ca_file=ca_file) if url
              else SimDevice(device_id, host, port, first_seq=first_seq, password=password, ca_file=ca_file)).connect()
    try:
        return replay(track, device, start, speedup, **options)
    finally:
        device.close()
