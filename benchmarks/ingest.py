"""Ingest benchmark: trackers at a fixed offered rate through a private Mosquitto into ``stayaway serve``.

    .venv/bin/python benchmarks/ingest.py [--devices 5000] [--rate 5000] [--duration 30]
        [--breach-fraction 0.01] [--panics 10] [--db sqlite|URL] [--json results.json]

Steps, in order:
  1. a temporary directory and a private Mosquitto on a free loopback port, configured from
     deploy/mosquitto.conf (listener, persistence location and log file rewritten);
  2. agencies (police squares tiling an area around Chengdu, one court) and one order per tracker
     ``trk-NNNNN`` / victim phone ``phone-NNNNN``, imported with ``stayaway agencies|orders import``;
  3. ``stayaway serve`` as a subprocess, ready once ``GET /healthz`` answers 200;
  4. an agency console subscribed to ``stayaway/v1/agencies/+/alerts`` stamping each alert message;
  5. publisher processes pacing location reports at the offered rate (QoS 1), recording when each
     breaching tracker published its first report inside its home zone, and the panic presses;
  6. drain (until the server processed every published message), then measure and report;
  7. SIGTERM to serve and Mosquitto, bounded waits, kill if needed.

Geometry: every tracker has a base point. The 99 % that never breach wander within 155 m of it;
their home circle (300 m) is 3 km away and their polygon zone 4.5 km away, so they never come
within 2.5 km of a zone. A breaching tracker starts 450 m from its home's centre, drives in at
15 m/s and enters at a planned moment; its reports never fall within 10 m of the circle's edge, so
"inside" is unambiguous. Its polygon zone lies 1.5 km beyond the home, on the far side.

Exit status: 0 when every target was met, 1 when one was missed, 2 when the harness failed.
Only loopback addresses are used. Every wait and loop is bounded, and ``--timeout`` bounds the run.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import platform
import queue
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
LOOPBACK = "127.0.0.1"

AREA = (30.3, 30.7, 103.7, 104.2)  # lat_min, lat_max, lon_min, lon_max: police squares tile this
POLICE_GRID = 2  # POLICE_GRID x POLICE_GRID squares
COURT_ID = "court-bench"
HOME_RADIUS_M = 300.0
EDGE_GAP_M = 10.0  # no report within this distance of the home circle's edge
BREACH_START_M = 450.0  # a breaching tracker's distance from its home's centre before it moves
BREACH_END_M = 150.0
BREACH_SPEED_MPS = 15.0
WANDER_M = 150.0
FAR_HOME_M = 3000.0  # base to home centre, for trackers that never breach
POLYGON_BEYOND_M = 1500.0  # home centre to polygon centre, away from the base
POLYGON_HALF_M = 75.0
VICTIM_EVERY = 30  # --full: a victim's phone reports once per this many of her respondent's reports
VICTIM_INTERVAL_S = 60  # --full: the victims' reporting interval in their orders (fresh for 190 s)
ALERT_TOPIC = "stayaway/v1/agencies/+/alerts"
TARGET_P99_MS = 200.0


# -- geometry (WGS-84 local radii: within 0.01 % of the service's projection over a few km) --------
_A, _E2 = 6378137.0, 6.69437999014e-3


def metres_per_degree(lat: float) -> tuple[float, float]:
    s = math.sin(math.radians(lat))
    w = 1.0 - _E2 * s * s
    per_lat = math.radians(1.0) * _A * (1.0 - _E2) / w ** 1.5
    per_lon = math.radians(1.0) * _A / math.sqrt(w) * math.cos(math.radians(lat))
    return per_lat, per_lon


def offset(lat: float, lon: float, east_m: float, north_m: float) -> tuple[float, float]:
    per_lat, per_lon = metres_per_degree(lat)
    return lat + north_m / per_lat, lon + east_m / per_lon


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    per_lat, per_lon = metres_per_degree((lat1 + lat2) / 2)
    return math.hypot((lat2 - lat1) * per_lat, (lon2 - lon1) * per_lon)


# -- the scenario --------------------------------------------------------------------------------------
@dataclass
class Plan:
    """Everything the publisher processes need; plain data, so it pickles for ``spawn``."""

    devices: int
    rate: float
    duration: float
    base: list[tuple[float, float]]
    home: list[tuple[float, float]]
    heading: list[tuple[float, float]]  # unit vector (east, north) from base towards home
    phase: list[float]
    breach_at: dict[int, float]  # device index -> planned entry, seconds after the start
    panics: list[tuple[float, int]]  # (seconds after the start, device index), sorted
    scale: list[tuple[float, float]]  # metres per degree (lat, lon) around the device
    client: str = "paho"  # paho | raw
    full: bool = False  # orders with a warning ring and a moving zone; victims' phones report too

    @property
    def interval_s(self) -> float:
        return self.devices / self.rate


def make_plan(devices: int, rate: float, duration: float, breach_fraction: float, panics: int,
              seed: int) -> Plan:
    rng = random.Random(seed)
    n_breach = min(devices, max(1 if breach_fraction > 0 else 0, round(devices * breach_fraction)))
    breaching = set(rng.sample(range(devices), n_breach))
    calm = [i for i in range(devices) if i not in breaching]
    base, home, heading, phase, breach_at = [], [], [], [], {}
    for i in range(devices):
        blat, blon = rng.uniform(30.36, 30.64), rng.uniform(103.78, 104.12)
        theta = rng.uniform(0, 2 * math.pi)
        ux, uy = math.sin(theta), math.cos(theta)
        reach = BREACH_START_M if i in breaching else FAR_HOME_M
        base.append((blat, blon))
        home.append(offset(blat, blon, ux * reach, uy * reach))
        heading.append((ux, uy))
        phase.append(rng.uniform(0, 2 * math.pi))
        if i in breaching:
            breach_at[i] = rng.uniform(0.3, 0.75) * duration
    panic_devices = rng.sample(calm, min(panics, len(calm)))
    panic_plan = sorted((duration * (k + 1) / (len(panic_devices) + 1), i) for k, i in enumerate(panic_devices))
    scale = [metres_per_degree(lat) for lat, _ in base]
    return Plan(devices, rate, duration, base, home, heading, phase, breach_at, panic_plan, scale)


def breach_distance_m(rel: float, enter_at: float) -> float:
    """Distance from the home's centre: never within EDGE_GAP_M of the edge, inside from ``enter_at`` on."""
    if rel < enter_at:
        return min(BREACH_START_M, HOME_RADIUS_M + EDGE_GAP_M + 1 + BREACH_SPEED_MPS * (enter_at - rel))
    return max(BREACH_END_M, HOME_RADIUS_M - EDGE_GAP_M - 1 - BREACH_SPEED_MPS * (rel - enter_at))


def position(plan: Plan, i: int, rel: float, seq: int) -> tuple[float, float]:
    """Where tracker ``i`` is ``rel`` seconds after the start (its ``seq``-th report)."""
    per_lat, per_lon = plan.scale[i]
    enter_at = plan.breach_at.get(i)
    if enter_at is not None:
        ux, uy = plan.heading[i]
        d = breach_distance_m(rel, enter_at)
        side = 5.0 * math.sin(seq * 1.7 + plan.phase[i])  # a little sideways jitter
        hlat, hlon = plan.home[i]
        return hlat + (-uy * d - ux * side) / per_lat, hlon + (-ux * d + uy * side) / per_lon
    a = plan.phase[i] + rel * 2 * math.pi / 600.0
    r = WANDER_M + 5.0 * math.sin(seq * 1.7 + plan.phase[i])
    blat, blon = plan.base[i]
    return blat + r * math.sin(a) / per_lat, blon + r * math.cos(a) / per_lon


def agencies_geojson() -> dict[str, Any]:
    lat0, lat1, lon0, lon1 = AREA
    features = []
    for r in range(POLICE_GRID):
        for c in range(POLICE_GRID):
            a = lat0 + (lat1 - lat0) * r / POLICE_GRID
            b = lat0 + (lat1 - lat0) * (r + 1) / POLICE_GRID
            w = lon0 + (lon1 - lon0) * c / POLICE_GRID
            e = lon0 + (lon1 - lon0) * (c + 1) / POLICE_GRID
            features.append({"type": "Feature",
                             "geometry": {"type": "Polygon", "coordinates": [[[w, a], [e, a], [e, b], [w, b], [w, a]]]},
                             "properties": {"agency_id": f"police-r{r}c{c}", "name": f"Bench police square {r},{c}",
                                            "kind": "police"}})
    features.append({"type": "Feature", "geometry": None,
                     "properties": {"agency_id": COURT_ID, "name": "Bench intermediate court", "kind": "court"}})
    return {"type": "FeatureCollection", "features": features}


def order_id(i: int) -> str:
    return f"PSO-BENCH-{i:05d}"


def orders_json(plan: Plan) -> list[dict[str, Any]]:
    now = time.time()
    issued, expires = rfc3339(now - 86400), rfc3339(now + 150 * 86400)  # within the law in force's 6 months
    interval = max(1, round(plan.interval_s))
    out = []
    for i in range(plan.devices):
        hlat, hlon = plan.home[i]
        ux, uy = plan.heading[i]
        plat, plon = offset(hlat, hlon, ux * POLYGON_BEYOND_M, uy * POLYGON_BEYOND_M)
        s, w = offset(plat, plon, -POLYGON_HALF_M, -POLYGON_HALF_M)
        n, e = offset(plat, plon, POLYGON_HALF_M, POLYGON_HALF_M)
        ring = [[round(x, 7), round(y, 7)] for x, y in ((w, s), (e, s), (e, n), (w, n), (w, s))]
        out.append({
            "order_id": order_id(i), "type": "ordinary", "court": COURT_ID,
            "issued_at": issued, "expires_at": expires,
            "respondent": {"person_id": f"R-{i:05d}", "device_id": f"trk-{i:05d}", "report_interval_s": interval},
            "victim": {"person_id": f"V-{i:05d}", "device_id": f"phone-{i:05d}",
                       "report_interval_s": VICTIM_INTERVAL_S if plan.full else 3600},
            **({"pre_alert_m": 300, "min_distance_m": 500} if plan.full else {}),
            "datum": "wgs84",
            "zones": {"type": "FeatureCollection", "features": [
                {"type": "Feature", "geometry": {"type": "Point", "coordinates": [round(hlon, 7), round(hlat, 7)]},
                 "properties": {"zone_id": "home", "kind": "home", "name": "Victim's home", "radius_m": HOME_RADIUS_M}},
                {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                 "properties": {"zone_id": "work", "kind": "work", "name": "Victim's workplace"}},
            ]},
        })
    return out


_ts_cache: dict[int, str] = {}


def rfc3339(t: float) -> str:
    """``2026-11-21T08:15:30.250Z`` for a POSIX time (milliseconds truncated)."""
    sec = int(t)
    head = _ts_cache.get(sec)
    if head is None:
        if len(_ts_cache) > 4096:
            _ts_cache.clear()
        head = _ts_cache[sec] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    return f"{head}.{int((t - sec) * 1000):03d}Z"


# -- publisher processes -------------------------------------------------------------------------------
def _nodelay(_client: Any, _userdata: Any, sock: Any) -> None:
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):
        pass


def publisher_main(w: int, workers: int, plan: Plan, port: int, ready_q: Any, go: Any, t0_value: Any,
                   out_q: Any) -> None:
    """One paho client publishing reports for devices [lo, hi) and their victims' panic presses."""
    try:
        out_q.put(_publish(w, workers, plan, port, ready_q, go, t0_value))
    except Exception as exc:  # noqa: BLE001 - report to the parent instead of dying silently
        out_q.put({"worker": w, "error": f"{exc.__class__.__name__}: {exc}"})


class PahoPublisher:
    """The paho client (MQTT 3.1.1, QoS 1), as a device fleet's gateway would use it."""

    def __init__(self, port: int, client_id: str) -> None:
        import paho.mqtt.client as mqtt

        self._c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311,
                              clean_session=True)
        # No in-flight limit: with one, paho rescans every in-flight message on each PUBACK
        # (Client._update_inflight), O(limit) per message once a backlog forms; at 5,000 msg/s with
        # a limit of 1,000 the publisher fell behind and never caught up.
        self._c.max_inflight_messages_set(0)
        self._c.max_queued_messages_set(0)
        self._c.on_socket_open = _nodelay
        self.acked = 0
        self._connected = threading.Event()
        self._c.on_publish = self._on_publish
        self._c.on_connect = lambda _c, _u, _f, reason, _p: None if reason.is_failure else self._connected.set()
        self._c.connect(LOOPBACK, port, keepalive=60)
        self._c.loop_start()
        if not self._connected.wait(15):
            self.close()
            raise TimeoutError("broker did not accept the publisher")

    def _on_publish(self, *_a: Any) -> None:
        self.acked += 1

    def publish(self, topic: str, payload: str) -> bool:
        return self._c.publish(topic, payload, qos=1).rc == 0

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self._c.disconnect()
        self._c.loop_stop()


class RawPublisher:
    """A minimal MQTT 3.1.1 QoS 1 publisher on a plain socket: one send per pacing slice, a reader
    thread counting PUBACKs. Same bytes on the wire as paho, a fraction of its CPU, so that on a
    small machine the load generator leaves the cores to the broker and the server."""

    def __init__(self, port: int, client_id: str) -> None:
        self.acked = 0
        self._mid = 0
        self._buf = bytearray()
        self._sock = socket.create_connection((LOOPBACK, port), timeout=15)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        cid = client_id.encode()
        # CONNECT: protocol "MQTT" level 4, clean session, keep-alive 0 (off), client id
        body = b"\x00\x04MQTT\x04\x02\x00\x00" + len(cid).to_bytes(2, "big") + cid
        self._sock.sendall(b"\x10" + _varint(len(body)) + body)
        connack = self._recv_exactly(4)
        if connack[0] != 0x20 or connack[3] != 0:
            raise ConnectionError(f"broker refused the publisher: CONNACK {connack.hex()}")
        self._sock.settimeout(None)
        self._reader = threading.Thread(target=self._read, name="bench-raw-reader", daemon=True)
        self._reader.start()

    def _recv_exactly(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self._sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("broker closed the connection")
            data += chunk
        return data

    def _read(self) -> None:
        pending = b""
        while True:
            try:
                chunk = self._sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            pending += chunk
            i = 0
            while len(pending) - i >= 2:
                length, used = _read_varint(pending, i + 1)
                if used == 0 or len(pending) - i < 1 + used + length:
                    break
                if pending[i] >> 4 == 4:  # PUBACK
                    self.acked += 1
                i += 1 + used + length
            pending = pending[i:]

    def publish(self, topic: str, payload: str) -> bool:
        self._mid = self._mid % 65535 + 1
        t, p = topic.encode(), payload.encode()
        body_len = 2 + len(t) + 2 + len(p)
        self._buf += b"\x32" + _varint(body_len) + len(t).to_bytes(2, "big") + t + self._mid.to_bytes(2, "big") + p
        return True

    def flush(self) -> None:
        if self._buf:
            self._sock.sendall(self._buf)
            self._buf.clear()

    def close(self) -> None:
        try:
            self.flush()
            self._sock.sendall(b"\xe0\x00")  # DISCONNECT
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        self._reader.join(5)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = n >> 7, n & 0x7F
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _read_varint(buf: bytes, i: int) -> tuple[int, int]:
    """(value, bytes used); used is 0 when the buffer ends inside the number."""
    value = shift = 0
    for used in range(1, 5):
        if i + used - 1 >= len(buf):
            return 0, 0
        b = buf[i + used - 1]
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, used
        shift += 7
    raise ValueError("malformed remaining length")


def _publish(w: int, workers: int, plan: Plan, port: int, ready_q: Any, go: Any, t0_value: Any) -> dict:
    lo, hi = plan.devices * w // workers, plan.devices * (w + 1) // workers
    m = hi - lo
    rate = plan.rate * m / plan.devices
    kind = RawPublisher if plan.client == "raw" else PahoPublisher
    client = kind(port, f"bench-pub-{w}-{os.getpid()}")
    try:
        ready_q.put(w)
        if not go.wait(120):
            raise TimeoutError("no start signal")
        t0 = t0_value.value
        while time.time() < t0:
            time.sleep(min(0.01, max(0.0, t0 - time.time())))
        return _pace(client, plan, lo, hi, rate, t0) | {"worker": w, "devices": m}
    finally:
        client.close()


def _pace(client: PahoPublisher | RawPublisher, plan: Plan, lo: int, hi: int, rate: float, t0: float) -> dict:
    """Publish reports round-robin over the slice; message n is due at t0 + n / rate."""
    m = hi - lo
    topics = [f"stayaway/v1/devices/trk-{i:05d}/location" for i in range(lo, hi)]
    victim_topics = [f"stayaway/v1/devices/phone-{i:05d}/location" for i in range(lo, hi)]
    victim_at = [offset(*plan.home[i], 40.0, 20.0) for i in range(lo, hi)] if plan.full else []
    victims = 0
    seqs = [0] * m
    breaching = {i: plan.home[i] for i in plan.breach_at if lo <= i < hi}
    first_inside: dict[int, float] = {}
    panics = [(rel, i) for rel, i in plan.panics if lo <= i < hi]
    panic_at: dict[int, float] = {}
    burst = max(10, int(rate * 0.05))
    t_end = t0 + plan.duration
    n = pi = refused = 0
    max_lag = 0.0
    cpu0 = time.process_time()
    first = last = 0.0
    while True:
        now = time.time()
        if now >= t_end:
            break
        max_lag = max(max_lag, now - (t0 + n / rate))
        stop = min(int((now - t0) * rate) + 1, n + burst)
        while n < stop:
            j = n % m
            i = lo + j
            seqs[j] += 1
            t = time.time()
            lat, lon = position(plan, i, t - t0, seqs[j])
            payload = '{"seq":%d,"ts":"%s","lat":%.7f,"lon":%.7f,"acc":%.1f,"src":"gps"}' % (
                seqs[j], rfc3339(t), lat, lon, 8.0 + (seqs[j] % 5))
            if plan.full and (seqs[j] + j) % VICTIM_EVERY == 1:  # her phone, at home; staggered over devices
                vlat, vlon = victim_at[j]
                vbody = '{"seq":%d,"ts":"%s","lat":%.7f,"lon":%.7f,"acc":15.0,"src":"gps"}' % (
                    1000 + seqs[j], rfc3339(t), vlat, vlon)
                victims += 1 if client.publish(victim_topics[j], vbody) else 0
            if not client.publish(topics[j], payload):
                refused += 1
            elif i in breaching and i not in first_inside:
                hlat, hlon = breaching[i]
                if distance_m(lat, lon, hlat, hlon) < HOME_RADIUS_M:
                    first_inside[i] = t
            first = first or t
            last = t
            n += 1
        while pi < len(panics) and t0 + panics[pi][0] <= time.time():
            i = panics[pi][1]
            vlat, vlon = offset(*plan.home[i], 40.0, 20.0)
            t = time.time()
            payload = '{"seq":1,"ts":"%s","lat":%.7f,"lon":%.7f,"acc":12.0,"silent":false}' % (rfc3339(t), vlat, vlon)
            if client.publish(f"stayaway/v1/devices/phone-{i:05d}/panic", payload):
                panic_at[i] = t
            else:
                refused += 1
            pi += 1
        client.flush()
        wait = t0 + n / rate - time.time()
        if wait > 0:
            time.sleep(min(wait, 0.005, max(0.0, t_end - time.time())))
    cpu = time.process_time() - cpu0
    sent = n - refused + len(panic_at) + victims
    deadline = time.time() + 60
    while client.acked < sent and time.time() < deadline:
        time.sleep(0.02)
    return {"locations": n - (refused - (len(panics) - len(panic_at))), "panics": len(panic_at), "refused": refused,
            "victim_locations": victims,
            "acked": client.acked, "acked_after_s": time.time() - t_end, "first": first, "last": last,
            "max_lag_s": max_lag, "cpu_s": cpu, "first_inside": first_inside, "panic_at": panic_at}


# -- processes we start, and their cleanup -------------------------------------------------------------
class Procs:
    """Child processes by role; stopped in reverse order, each with SIGTERM, a bounded wait, then SIGKILL."""

    def __init__(self) -> None:
        self.items: list[tuple[str, subprocess.Popen]] = []
        self.workers: list[Any] = []
        self._lock = threading.Lock()

    def add(self, name: str, proc: subprocess.Popen) -> subprocess.Popen:
        self.items.append((name, proc))
        return proc

    def remove(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            stop_process(proc, 5)
        self.items = [(n, p) for n, p in self.items if p is not proc]

    def stop_all(self) -> dict[str, Any]:
        codes: dict[str, Any] = {}
        with self._lock:
            for p in self.workers:
                if p.is_alive():
                    p.terminate()
                p.join(5)
                if p.is_alive():
                    p.kill()
                    p.join(2)
            self.workers.clear()
            for name, proc in reversed(self.items):
                codes[name] = stop_process(proc)
            self.items.clear()
        return codes


def stop_process(proc: subprocess.Popen, grace_s: float = 20.0) -> Any:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                return "unkillable"
            return "killed"
    return proc.returncode


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def wait_for(check: Any, timeout_s: float, every_s: float = 0.1) -> bool:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if check():
            return True
        time.sleep(every_s)
    return bool(check())


def listening(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.5):
            return True
    except OSError:
        return False


def mosquitto_conf(tmp: Path, port: int) -> Path:
    """deploy/mosquitto.conf's broker settings with our one anonymous loopback listener (no TLS, no accounts),
    persistence location and log file."""
    mdir = tmp / "mosquitto"
    mdir.mkdir()
    keep = []
    for line in (ROOT / "deploy" / "mosquitto.conf").read_text().splitlines():
        word = line.split("#", 1)[0].split()
        if word and word[0] in ("listener", "persistence_location", "log_dest", "log_type", "user", "pid_file",
                                "allow_anonymous", "password_file", "acl_file", "certfile", "keyfile", "cafile",
                                "require_certificate", "tls_version", "use_username_as_clientid"):
            continue
        keep.append(line)
    keep += ["", "# -- benchmark overrides --", f"listener {port} {LOOPBACK}", "allow_anonymous true",
             f"persistence_location {mdir}/",
             f"log_dest file {mdir}/mosquitto.log", "log_type error", "log_type warning", "log_type notice",
             "log_timestamp_format %Y-%m-%dT%H:%M:%S"]
    if os.geteuid() == 0:  # mosquitto drops root privileges to its own user: let that user write here
        try:
            import pwd

            pw = pwd.getpwnam("mosquitto")
            os.chown(mdir, pw.pw_uid, pw.pw_gid)
        except (KeyError, ImportError):
            keep.append("user root")
    conf = tmp / "mosquitto.conf"
    conf.write_text("\n".join(keep) + "\n")
    return conf


def start_mosquitto(procs: Procs, tmp: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    conf = mosquitto_conf(tmp, port)
    out = open(tmp / "mosquitto.stdout", "wb")  # noqa: SIM115 - closed when the process ends
    proc = procs.add("mosquitto", subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=out, stderr=subprocess.STDOUT,
                                                   stdin=subprocess.DEVNULL))
    if not wait_for(lambda: listening(port) or proc.poll() is not None, 10) or proc.poll() is not None:
        raise RuntimeError(f"mosquitto did not start: {_tail(tmp / 'mosquitto.stdout')} {_tail(tmp / 'mosquitto' / 'mosquitto.log')}")
    return proc, port


def _tail(path: Path, n: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return ""


def notable_lines(path: Path, keep: Any, limit: int = 60) -> list[str]:
    """Lines worth reading from a log (the web server's access lines left out), at most ``limit``."""
    try:
        with open(path, errors="replace") as f:
            lines = [ln.rstrip() for ln in f if keep(ln)]
    except OSError:
        return []
    return lines[:limit // 2] + lines[-(limit // 2):] if len(lines) > limit else lines


def stayaway_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAYAWAY_")}
    env.update(STAYAWAY_DATA_DIR=str(tmp), STAYAWAY_LOG_LEVEL="WARNING")
    return env


def run_cli(procs: Procs, tmp: Path, args: list[str], timeout_s: float) -> str:
    proc = procs.add("cli", subprocess.Popen([str(VENV_BIN / "stayaway"), *args], env=stayaway_env(tmp),
                                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                             stdin=subprocess.DEVNULL))
    try:
        out, err = proc.communicate(timeout=timeout_s)
    finally:
        procs.remove(proc)
    if proc.returncode != 0:
        raise RuntimeError(f"stayaway {' '.join(args[:2])} failed ({proc.returncode}): {err[-2000:]}")
    return out


def healthz(http_port: int) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://{LOOPBACK}:{http_port}/healthz", timeout=2) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read())
        except ValueError:
            return exc.code, {}
    except (OSError, ValueError):
        return 0, {}


def start_serve(procs: Procs, tmp: Path, mqtt_port: int, db_url: str, devices: int) -> tuple[subprocess.Popen, int]:
    http_port = free_port()
    err = open(tmp / "serve.stderr", "wb")  # noqa: SIM115
    cmd = [str(VENV_BIN / "stayaway"), "serve", "--mqtt", f"mqtt://{LOOPBACK}:{mqtt_port}", "--db", db_url,
           "--http", f"{LOOPBACK}:{http_port}"]
    proc = procs.add("serve", subprocess.Popen(cmd, env=stayaway_env(tmp), stdout=subprocess.DEVNULL, stderr=err,
                                               stdin=subprocess.DEVNULL))

    def ready() -> bool:
        if proc.poll() is not None:
            return True
        code, body = healthz(http_port)
        return code == 200 and body.get("orders") == devices and body.get("alert_publisher") == "connected"

    if not wait_for(ready, 180, 0.25) or proc.poll() is not None:
        raise RuntimeError(f"stayaway serve did not become ready: {_tail(tmp / 'serve.stderr')}")
    if "stayaway serving:" not in _tail(tmp / "serve.stderr", 100_000):
        raise RuntimeError("serve is healthy but never printed its 'stayaway serving:' line")
    return proc, http_port


# -- the agency console and the sampler ----------------------------------------------------------------
class Console:
    """Subscribes to every agency's alerts and stamps each message on arrival."""

    def __init__(self, port: int) -> None:
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[float, dict[str, Any]]] = []
        self.bad = 0
        self._subscribed = threading.Event()
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-console-{os.getpid()}",
                                   protocol=mqtt.MQTTv311, clean_session=True)
        self._client.on_socket_open = _nodelay
        self._client.on_connect = lambda c, *_: c.subscribe(ALERT_TOPIC, qos=1)
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.on_message = self._on_message
        self._port = port

    def start(self) -> None:
        self._client.connect(LOOPBACK, self._port, keepalive=60)
        self._client.loop_start()
        if not self._subscribed.wait(15):
            raise RuntimeError("agency console could not subscribe")

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        t = time.time()
        try:
            self.messages.append((t, json.loads(msg.payload)))
        except ValueError:
            self.bad += 1


class Sampler:
    """Every 0.5 s: RSS and CPU time of serve and Mosquitto, machine CPU, and the health counters."""

    def __init__(self, serve_pid: int, mosquitto_pid: int, http_port: int, deadline: float) -> None:
        import psutil

        self.psutil = psutil
        self.procs = {"serve": psutil.Process(serve_pid), "mosquitto": psutil.Process(mosquitto_pid)}
        self.http_port, self.deadline = http_port, deadline
        self.samples: list[dict[str, Any]] = []
        self._last_cpu: dict[int, float] = {}
        self._ours = self._other = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)

    def start(self) -> None:
        self.me = self.psutil.Process()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while time.time() < self.deadline:
            self.samples.append(self.sample())
            if self._stop.wait(0.5):
                break

    def sample(self) -> dict[str, Any]:
        m = self.psutil.cpu_times()
        s: dict[str, Any] = {"t": time.time(), "machine_busy_cpu_s": sum(m) - m.idle - getattr(m, "iowait", 0.0)
                             - getattr(m, "guest", 0.0) - getattr(m, "guest_nice", 0.0)}
        ours = {self.me.pid, *(c.pid for c in self.me.children(recursive=True))}
        now: dict[int, float] = {}
        for p in self.psutil.process_iter():
            try:
                cpu = p.cpu_times()
            except self.psutil.Error:
                continue
            now[p.pid] = cpu.user + cpu.system
        # CPU of every process alive at both samples, split into this benchmark's tree and the rest
        for pid, cpu in now.items():
            delta = cpu - self._last_cpu.get(pid, cpu)
            if pid in ours:
                self._ours += delta
            else:
                self._other += delta
        self._last_cpu = now
        s["ours_cpu_s"], s["other_cpu_s"] = self._ours, self._other
        for name, p in self.procs.items():
            try:
                with p.oneshot():
                    cpu = p.cpu_times()
                    s[f"{name}_rss"] = p.memory_info().rss
                    s[f"{name}_cpu_s"] = cpu.user + cpu.system
            except self.psutil.Error:
                pass
        code, body = healthz(self.http_port)
        counters = body.get("counters", {})
        s.update(healthz=code, accepted=counters.get("accepted", 0), messages=counters.get("messages", 0),
                 backlog=body.get("ingest_backlog"), outbox_pending=body.get("outbox_pending"))
        return s


# -- measuring -----------------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, max(0, math.ceil(q / 100 * len(v)) - 1))]


def summary_ms(values_s: list[float]) -> dict[str, Any]:
    ms = [v * 1000 for v in values_s]
    return {"n": len(ms), "p50_ms": pct(ms, 50), "p99_ms": pct(ms, 99), "max_ms": max(ms) if ms else None,
            "mean_ms": sum(ms) / len(ms) if ms else None}


def parse_at(text: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def alert_latencies(console: Console, starts: dict[int, float], kind: str) -> dict[str, Any]:
    """Per order: publish of the triggering message -> first and last (all recipients) ``raised``.

    Split at the message's ``at`` (when the backend made the event, inside the batch that read the
    report): publish -> ``at`` is ingest (broker queue, batch wait, processing), ``at`` -> arrival is
    commit, outbox dispatch and the broker."""
    wanted = {order_id(i): i for i in starts}
    arrivals: dict[str, dict[str, float]] = {}
    made_at: dict[str, float] = {}
    alert_ids: dict[str, set[str]] = {}
    for t, msg in list(console.messages):
        if msg.get("kind") == kind and msg.get("event") == "raised" and msg.get("order_id") in wanted:
            arrivals.setdefault(msg["order_id"], {}).setdefault(msg.get("agency_id", "?"), t)
            alert_ids.setdefault(msg["order_id"], set()).add(msg.get("alert_id"))
            at = parse_at(msg.get("at"))
            if at is not None:
                made_at.setdefault(msg["order_id"], at)
    first, every, police, court, to_event, to_console = [], [], 0, 0, [], []
    for oid, by_agency in arrivals.items():
        t_pub = starts[wanted[oid]]
        first.append(min(by_agency.values()) - t_pub)
        every.append(max(by_agency.values()) - t_pub)
        if oid in made_at:
            to_event.append(made_at[oid] - t_pub)
            to_console.append(min(by_agency.values()) - made_at[oid])
        police += sum(1 for a in by_agency if a.startswith("police-"))
        court += sum(1 for a in by_agency if a == COURT_ID)
    complete = sum(1 for by in arrivals.values() if COURT_ID in by and any(a.startswith("police-") for a in by))
    slowest = sorted(((max(by.values()) - starts[wanted[oid]], oid) for oid, by in arrivals.items()), reverse=True)[:5]
    return {"expected": len(starts), "alerted": len(arrivals), "alerted_police_and_court": complete,
            "police_messages": police, "court_messages": court,
            "orders_with_several_alert_ids": sum(1 for ids in alert_ids.values() if len(ids) > 1),
            "missing": sorted(set(wanted) - set(arrivals))[:20],
            "first_recipient": summary_ms(first), "all_recipients": summary_ms(every),
            "publish_to_event_at": summary_ms(to_event), "event_at_to_first_arrival": summary_ms(to_console),
            "slowest": [{"order_id": oid, "ms": round(v * 1000, 1)} for v, oid in slowest]}


def message_census(console: Console, breaching: set[int]) -> dict[str, Any]:
    by_kind: dict[str, int] = {}
    unexpected = 0
    wrong_zone = 0
    expected_orders = {order_id(i) for i in breaching}
    for _, msg in console.messages:
        key = f"{msg.get('kind')}/{msg.get('event')}"
        by_kind[key] = by_kind.get(key, 0) + 1
        if msg.get("kind") == "zone_breach":
            if msg.get("order_id") not in expected_orders:
                unexpected += 1
            elif (msg.get("zone") or {}).get("zone_id") != "home":
                wrong_zone += 1
    return {"messages": len(console.messages), "by_kind_event": by_kind, "unparseable": console.bad,
            "zone_breach_for_non_breaching_orders": unexpected, "zone_breach_wrong_zone": wrong_zone}


def db_figures(db_url: str) -> dict[str, Any]:
    import sqlalchemy as sa

    from service.adapters.db import schema as t

    engine = sa.create_engine(db_url)
    out: dict[str, Any] = {}
    try:
        with engine.connect() as conn:
            for table in (t.location_reports, t.panic_presses, t.status_reports, t.rejected_messages, t.alerts,
                          t.alert_log, t.zone_membership):
                out[table.name] = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()
            out["alerts_by_kind"] = dict(conn.execute(sa.select(t.alerts.c.kind, sa.func.count())
                                                      .group_by(t.alerts.c.kind)).all())
            sent = conn.execute(sa.select(sa.func.count()).where(t.outbox.c.sent_at.is_not(None))).scalar()
            unsent = conn.execute(sa.select(sa.func.count()).where(t.outbox.c.sent_at.is_(None))).scalar()
            out["outbox_sent"], out["outbox_unsent"] = sent, unsent
            rows = conn.execute(sa.select(t.location_reports.c.device_ts, t.location_reports.c.received_at,
                                          t.location_reports.c.processed_at)).all()
    finally:
        engine.dispose()
    if rows:
        first, last = min(r.processed_at for r in rows), max(r.processed_at for r in rows)
        span = (last - first).total_seconds()
        out["processed_span_s"] = span
        out["processed_per_s"] = len(rows) / span if span > 0 else None
        # device_ts is the publish time, truncated to the millisecond
        out["report_publish_to_receive"] = summary_ms([(r.received_at - r.device_ts).total_seconds() for r in rows])
        out["report_publish_to_batch_start"] = summary_ms([(r.processed_at - r.device_ts).total_seconds() for r in rows])
    return out


def server_rates(samples: list[dict[str, Any]], t0: float, t_end: float) -> dict[str, Any]:
    ok = [s for s in samples if s.get("healthz") == 200]
    if len(ok) < 2:
        return {}

    def at(t: float) -> dict[str, Any]:
        return min(ok, key=lambda s: abs(s["t"] - t))

    a, b = at(t0), at(t_end)
    live = (b["accepted"] - a["accepted"]) / (b["t"] - a["t"]) if b["t"] > a["t"] else None
    final = ok[-1]["accepted"]
    started = next((s for s in ok if s["accepted"] > a["accepted"]), None)
    reached = next((s for s in ok if s["accepted"] >= final), None)
    overall = None
    if started and reached and reached["t"] > started["t"]:
        overall = (reached["accepted"] - started["accepted"]) / (reached["t"] - started["t"])
    windows = [(y["accepted"] - x["accepted"]) / (y["t"] - x["t"]) for x, y in zip(ok, ok[1:], strict=False)
               if y["t"] > x["t"] and t0 <= x["t"] <= t_end]
    backlog = [s["backlog"] for s in ok if s.get("backlog") is not None and t0 <= s["t"] <= t_end + 0.6]
    run = [s for s in samples if t0 <= s["t"] <= t_end]

    def cpu_share(name: str) -> float | None:
        xs = [s for s in run if f"{name}_cpu_s" in s]
        if len(xs) < 2 or xs[-1]["t"] <= xs[0]["t"]:
            return None
        return (xs[-1][f"{name}_cpu_s"] - xs[0][f"{name}_cpu_s"]) / (xs[-1]["t"] - xs[0]["t"]) * 100

    cores = os.cpu_count() or 1
    return {
        "accepted_per_s_while_publishing": live,
        "accepted_per_s_first_to_last": overall,
        "accepted_per_s_best_0_5s_window": max(windows) if windows else None,
        "backlog_max": max(backlog) if backlog else None,
        "backlog_at_end_of_publishing": at(t_end).get("backlog"),
        "drain_after_publishing_s": (reached["t"] - t_end) if reached else None,
        "serve_cpu_pct_while_publishing": cpu_share("serve"),
        "mosquitto_cpu_pct_while_publishing": cpu_share("mosquitto"),
        "machine_cpu_pct_while_publishing": (cpu_share("machine_busy") or 0) / cores,
        "benchmark_tree_cpu_pct_while_publishing": cpu_share("ours"),
        "other_processes_cpu_pct_while_publishing": cpu_share("other"),
        "serve_rss_peak_mib": max((s.get("serve_rss", 0) for s in samples), default=0) / 2**20,
        "mosquitto_rss_peak_mib": max((s.get("mosquitto_rss", 0) for s in samples), default=0) / 2**20,
    }


def idle_cpu_pct(pid: int, seconds: float) -> float:
    import psutil

    p = psutil.Process(pid)
    a = p.cpu_times()
    time.sleep(seconds)
    b = p.cpu_times()
    return (b.user + b.system - a.user - a.system) / seconds * 100


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def machine_info() -> dict[str, Any]:
    model = cpu_model()
    import sqlite3

    import paho.mqtt
    import psutil

    ver = subprocess.run([MOSQUITTO, "-h"], capture_output=True, text=True, timeout=10).stdout.splitlines()
    return {"cpu_model": model, "cores": os.cpu_count(), "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(), "kernel": platform.release(), "sqlite": sqlite3.sqlite_version,
            "paho_mqtt": paho.mqtt.__version__, "mosquitto": ver[0] if ver else "unknown"}


# -- the run -------------------------------------------------------------------------------------------
@dataclass
class Run:
    args: argparse.Namespace
    tmp: Path
    procs: Procs = field(default_factory=Procs)
    results: dict[str, Any] = field(default_factory=dict)


def database_url(arg: str, tmp: Path) -> str:
    if arg == "sqlite":
        return f"sqlite:///{tmp / 'bench.sqlite'}"
    from sqlalchemy.engine import make_url

    url = make_url(arg)
    if url.get_backend_name() != "sqlite" and url.host not in (LOOPBACK, "localhost"):
        raise SystemExit("--db: only a database on 127.0.0.1 may be used")
    return arg


def run(r: Run) -> None:
    a, tmp, res = r.args, r.tmp, r.results
    plan = make_plan(a.devices, a.rate, a.duration, a.breach_fraction, a.panics, a.seed)
    plan.client = a.client
    plan.full = a.full
    db_url = database_url(a.db, tmp)
    res["config"] = {"devices": a.devices, "offered_rate": a.rate, "duration_s": a.duration,
                     "breach_fraction": a.breach_fraction, "breaching_devices": len(plan.breach_at),
                     "panics": len(plan.panics), "publishers": a.publishers, "client": a.client,
                     "db": "sqlite" if a.db == "sqlite" else "url", "per_device_interval_s": plan.interval_s,
                     "seed": a.seed}
    res["machine"] = machine_info()
    say(f"[1/6] private mosquitto in {tmp}")
    mosq, port = start_mosquitto(r.procs, tmp)

    say(f"[2/6] {a.devices} orders, {len(plan.breach_at)} breaching, {len(plan.panics)} panics: importing")
    (tmp / "agencies.geojson").write_text(json.dumps(agencies_geojson()))
    (tmp / "orders.json").write_text(json.dumps(orders_json(plan)))
    t = time.time()
    run_cli(r.procs, tmp, ["agencies", "import", str(tmp / "agencies.geojson"), "--db", db_url], 120)
    run_cli(r.procs, tmp, ["orders", "import", str(tmp / "orders.json"), "--db", db_url], 600)
    res["import_s"] = time.time() - t

    say("[3/6] stayaway serve")
    t = time.time()
    serve, http_port = start_serve(r.procs, tmp, port, db_url, a.devices)
    res["serve_ready_s"] = time.time() - t
    console = Console(port)
    console.start()
    res["serve_idle_cpu_pct"] = idle_cpu_pct(serve.pid, 3.0)

    say(f"[4/6] {a.publishers} publishers, {a.rate:g}/s offered for {a.duration:g} s")
    ctx = mp.get_context("spawn")
    ready_q, out_q, go, t0_value = ctx.Queue(), ctx.Queue(), ctx.Event(), ctx.Value("d", 0.0)
    for w in range(a.publishers):
        p = ctx.Process(target=publisher_main, args=(w, a.publishers, plan, port, ready_q, go, t0_value, out_q),
                        name=f"bench-pub-{w}", daemon=True)
        p.start()
        r.procs.workers.append(p)
    for _ in range(a.publishers):
        try:
            ready_q.get(timeout=60)
        except queue.Empty:
            reports = [out_q.get_nowait() for _ in range(out_q.qsize())] if not out_q.empty() else []
            raise RuntimeError(f"publishers did not connect: {reports}") from None
    t0 = time.time() + 1.0
    t0_value.value = t0
    sampler = Sampler(serve.pid, mosq.pid, http_port, deadline=time.time() + a.timeout)
    sampler.start()
    go.set()
    workers = [out_q.get(timeout=a.duration + 90) for _ in range(a.publishers)]
    for p in r.procs.workers:
        p.join(10)
    errors = [w["error"] for w in workers if "error" in w]
    if errors:
        raise RuntimeError(f"publisher failed: {errors}")
    t_end = t0 + a.duration

    say("[5/6] draining")
    published = sum(min(w["locations"] + w["panics"] + w["victim_locations"], w["acked"]) for w in workers)  # what the broker took
    drained = wait_for(lambda: _drained(sampler, http_port, published), a.drain_timeout, 0.25)
    breach_start = {i: t for w in workers for i, t in w["first_inside"].items()}
    panic_start = {i: t for w in workers for i, t in w["panic_at"].items()}

    def all_alerts_in() -> bool:
        code, body = healthz(http_port)
        got = alert_latencies(console, breach_start, "zone_breach")["alerted_police_and_court"]
        got_p = alert_latencies(console, panic_start, "panic")["alerted_police_and_court"]
        return got == len(breach_start) and got_p == len(panic_start) and body.get("outbox_pending") == 0

    alerts_complete = wait_for(all_alerts_in, 20, 0.25)
    time.sleep(1.0)  # a last sample after the drain
    sampler.stop()
    console.stop()

    res["publish"] = {
        "locations": sum(w["locations"] for w in workers), "panics": sum(w["panics"] for w in workers),
        "broker_acked": sum(w["acked"] for w in workers), "refused_by_client": sum(w["refused"] for w in workers),
        "lost_unacked": sum(max(0, w["locations"] + w["panics"] + w["victim_locations"] - w["acked"]) for w in workers),
        "victim_locations": sum(w["victim_locations"] for w in workers),
        "last_puback_after_end_s": max(w["acked_after_s"] for w in workers),
        "achieved_rate": sum(w["locations"] for w in workers) / a.duration,
        "max_schedule_lag_s": max(w["max_lag_s"] for w in workers),
        "publisher_cpu_pct": sum(w["cpu_s"] for w in workers) / a.duration * 100,
        "breach_reports_published": len(breach_start), "breaching_planned": len(plan.breach_at),
    }
    last = sampler.samples[-1] if sampler.samples else {}
    code, body = healthz(http_port)
    res["server"] = server_rates(sampler.samples, t0, t_end) | {
        "drained": drained, "alerts_complete": alerts_complete, "counters": body.get("counters", {}),
        "final_backlog": body.get("ingest_backlog", last.get("backlog")), "outbox_pending": body.get("outbox_pending")}
    res["breach_alerts"] = alert_latencies(console, breach_start, "zone_breach")
    res["breach_alerts"]["never_published_inside"] = sorted(set(plan.breach_at) - set(breach_start))
    res["panic_alerts"] = alert_latencies(console, panic_start, "panic")
    res["console"] = message_census(console, set(plan.breach_at))
    res["console"]["messages_received"] = [{"recv": round(t, 4), **{k: m.get(k) for k in (
        "order_id", "kind", "event", "agency_id", "at", "occurred_at", "event_id")}} for t, m in console.messages]

    say("[6/6] stopping, then reading the database")
    res["exit_codes"] = r.procs.stop_all()
    res["db"] = db_figures(db_url)
    res["serve_log"] = notable_lines(tmp / "serve.stderr", lambda ln: "werkzeug" not in ln)
    res["mosquitto_log"] = notable_lines(tmp / "mosquitto" / "mosquitto.log",
                                         lambda ln: "New connection" not in ln and "New client" not in ln)
    res["targets"] = targets(res, a)


def _drained(sampler: Sampler, http_port: int, published: int) -> bool:
    code, body = healthz(http_port)
    counters = body.get("counters", {})
    return code == 200 and counters.get("messages", 0) >= published and body.get("ingest_backlog") == 0


def targets(res: dict[str, Any], a: argparse.Namespace) -> dict[str, Any]:
    ba, srv, pub = res["breach_alerts"], res["server"], res["publish"]
    p99 = ba["all_recipients"]["p99_ms"]
    return {
        f"achieved publish rate >= 99% of {a.rate:g}/s, every message acked by the broker":
            pub["achieved_rate"] >= 0.99 * a.rate and pub["lost_unacked"] == 0,
        "server keeps up: backlog at end of publishing < 0.5 s of offered load, drained within 2 s":
            (srv.get("backlog_at_end_of_publishing") or 0) < 0.5 * a.rate
            and (srv.get("drain_after_publishing_s") is not None and srv["drain_after_publishing_s"] <= 2.0),
        "drained: every published message processed": bool(srv["drained"]),
        "every breach alerted (police and court)": (ba["alerted_police_and_court"] == ba["expected"]
                                                    == pub["breaching_planned"]),
        f"p99 breach->alert (all recipients) <= {TARGET_P99_MS:g} ms": p99 is not None and p99 <= TARGET_P99_MS,
        "every panic alerted (police and court)": res["panic_alerts"]["alerted_police_and_court"]
        == res["panic_alerts"]["expected"],
        "no zone_breach alert for a tracker that stayed away": res["console"]["zone_breach_for_non_breaching_orders"] == 0,
    }


# -- output --------------------------------------------------------------------------------------------
def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def fmt(v: Any, unit: str = "") -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float):
        return f"{v:,.1f}{unit}"
    if isinstance(v, int):
        return f"{v:,}{unit}"
    return f"{v}{unit}"


def lat_row(s: dict[str, Any]) -> str:
    return f"p50 {fmt(s['p50_ms'])}  p99 {fmt(s['p99_ms'])}  max {fmt(s['max_ms'])} ms  (n={s['n']})"


def print_report(res: dict[str, Any]) -> None:
    from rich.table import Table

    c, m, pub, srv, db = res["config"], res["machine"], res["publish"], res["server"], res.get("db", {})
    ba, pa, con = res["breach_alerts"], res["panic_alerts"], res["console"]
    table = Table(title="stayaway ingest benchmark", show_lines=False)
    table.add_column("measure", style="bold")
    table.add_column("value")
    rows: list[tuple[str, str] | None] = [
        ("machine", f"{m['cpu_model']}, {m['cores']} cores, {m['ram_gib']} GiB; Python {m['python']}; "
                    f"SQLite {m['sqlite']}; {m['mosquitto']}"),
        ("config", f"{c['devices']:,} trackers (1 report / {c['per_device_interval_s']:.2f} s each), "
                   f"{c['breaching_devices']} breaching, {c['panics']} panics, {c['publishers']} {c['client']} publisher processes, "
                   f"{c['duration_s']:g} s, db {c['db']}"),
        None,
        ("offered rate", fmt(float(c["offered_rate"]), " reports/s")),
        ("achieved publish rate", fmt(pub["achieved_rate"], " reports/s") + f"  ({pub['locations']:,} reports, "
                                  f"{pub['broker_acked']:,} PUBACKs, {pub['lost_unacked']:,} never acked, "
                                  f"max schedule lag {pub['max_schedule_lag_s'] * 1000:.0f} ms)"),
        ("server accepted/s while publishing", fmt(srv.get("accepted_per_s_while_publishing"))),
        ("server accepted/s, first to last", fmt(srv.get("accepted_per_s_first_to_last"))),
        ("server processed/s (DB processed_at span)", fmt(db.get("processed_per_s"))),
        ("server counters: duplicates / redelivered alerts", f"{fmt(srv['counters'].get('duplicates', 0))} / "
         f"{fmt(srv['counters'].get('published', 0) - srv['counters'].get('outbox_rows', 0))}"),
        ("ingest backlog max / at end of publishing", f"{fmt(srv.get('backlog_max'))} / {fmt(srv.get('backlog_at_end_of_publishing'))}"),
        ("drain after publishing stopped", fmt(srv.get("drain_after_publishing_s"), " s") + f"  (drained: {fmt(srv['drained'])})"),
        ("report publish -> received by serve", lat_row(db["report_publish_to_receive"]) if "report_publish_to_receive" in db else "-"),
        ("report publish -> its batch started", lat_row(db["report_publish_to_batch_start"]) if "report_publish_to_batch_start" in db else "-"),
        None,
        ("breaches alerted", f"{ba['alerted']} of {ba['expected']} devices (police+court: {ba['alerted_police_and_court']}; "
                             f"{ba['police_messages']} police, {ba['court_messages']} court messages); "
                             f"planned {pub['breaching_planned']}, published inside {pub['breach_reports_published']}"),
        ("breach -> alert, first recipient", lat_row(ba["first_recipient"])),
        ("breach -> alert, all recipients", lat_row(ba["all_recipients"])),
        ("  of which publish -> event made ('at')", lat_row(ba["publish_to_event_at"])),
        ("  of which 'at' -> console (commit, dispatch)", lat_row(ba["event_at_to_first_arrival"])),
        ("panics alerted", f"{pa['alerted']} of {pa['expected']} ({pa['police_messages']} police, {pa['court_messages']} court)"),
        ("panic -> alert, first recipient", lat_row(pa["first_recipient"])),
        ("panic -> alert, all recipients", lat_row(pa["all_recipients"])),
        ("  of which publish -> event made ('at')", lat_row(pa["publish_to_event_at"])),
        ("  of which 'at' -> console (commit, dispatch)", lat_row(pa["event_at_to_first_arrival"])),
        ("console messages", f"{con['messages']}: " + ", ".join(f"{k} {v}" for k, v in sorted(con["by_kind_event"].items()))),
        ("false zone_breach alerts", fmt(con["zone_breach_for_non_breaching_orders"])),
        None,
        ("serve CPU idle (orders loaded, no traffic)", fmt(res.get("serve_idle_cpu_pct"), " % of one core")),
        ("serve CPU while publishing", fmt(srv.get("serve_cpu_pct_while_publishing"), " % of one core")),
        ("mosquitto CPU while publishing", fmt(srv.get("mosquitto_cpu_pct_while_publishing"), " % of one core")),
        ("publishers CPU (all processes)", fmt(pub["publisher_cpu_pct"], " % of one core")),
        ("CPU of this benchmark's process tree", fmt(srv.get("benchmark_tree_cpu_pct_while_publishing"), " % of one core")),
        ("CPU of other processes on the machine", fmt(srv.get("other_processes_cpu_pct_while_publishing"), " % of one core")),
        ("serve RSS peak", fmt(srv.get("serve_rss_peak_mib"), " MiB")),
        ("mosquitto RSS peak", fmt(srv.get("mosquitto_rss_peak_mib"), " MiB")),
        None,
        ("serve log (besides web access lines)", f"{len(res.get('serve_log', []))} lines, "
         f"{sum('WARNING' in ln or 'ERROR' in ln for ln in res.get('serve_log', []))} warnings/errors"),
        ("mosquitto log (besides connects and clean disconnects)",
         "; ".join(ln for ln in res.get("mosquitto_log", [])
                   if not ln.endswith((" disconnected.", "closed its connection.")))[-400:] or "-"),
        None,
        ("rows: location_reports", fmt(db.get("location_reports"))),
        ("rows: panic_presses / rejected_messages", f"{fmt(db.get('panic_presses'))} / {fmt(db.get('rejected_messages'))}"),
        ("rows: alerts", f"{fmt(db.get('alerts'))}  {db.get('alerts_by_kind', {})}"),
        ("rows: alert_log", fmt(db.get("alert_log"))),
        ("rows: outbox sent / unsent", f"{fmt(db.get('outbox_sent'))} / {fmt(db.get('outbox_unsent'))}"),
    ]
    print_tables(table, rows, res["targets"], 160)


def print_tables(table: Any, rows: list[Any], targets: dict[str, bool], width: int) -> None:
    """``rows`` into ``table`` (a rich Table; None starts a section), printed with the targets' met / NO table."""
    from rich.console import Console as RichConsole
    from rich.table import Table
    for row in rows:
        if row is None:
            table.add_section()
        else:
            table.add_row(*row)
    out = RichConsole(width=width)
    out.print(table)
    goals = Table(title="targets")
    goals.add_column("target")
    goals.add_column("met")
    for name, ok in targets.items():
        goals.add_row(name, "[green]yes[/green]" if ok else "[red]NO[/red]")
    out.print(goals)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--devices", type=int, default=5000)
    p.add_argument("--rate", type=float, default=5000.0, help="offered location reports per second, in total")
    p.add_argument("--duration", type=float, default=30.0, help="seconds of publishing")
    p.add_argument("--breach-fraction", type=float, default=0.01)
    p.add_argument("--panics", type=int, default=10)
    p.add_argument("--db", default="sqlite", help="'sqlite' (a fresh file in the temp dir) or a loopback URL of an empty database")
    p.add_argument("--publishers", type=int, default=2, help="publisher processes")
    p.add_argument("--client", choices=("paho", "raw"), default="paho",
                   help="publisher MQTT client: paho, or a minimal raw-socket MQTT 3.1.1 client that costs far less CPU")
    p.add_argument("--seed", type=int, default=20261121)
    p.add_argument("--full", action="store_true",
                   help="orders with pre_alert_m 300 and min_distance_m 500, victims' phones reporting (issue 3's rules on)")
    p.add_argument("--drain-timeout", type=float, default=None, help="seconds to wait for the server to catch up")
    p.add_argument("--timeout", type=float, default=None, help="overall bound on the run, seconds")
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (database, logs)")
    a = p.parse_args(argv)
    if not (1 <= a.devices <= 99_999 and a.rate > 0 and 0 < a.duration <= 3600 and 0 <= a.breach_fraction <= 1
            and 0 <= a.panics and 1 <= a.publishers <= 16 and a.publishers <= a.devices):
        p.error("out of range: need 1 <= devices <= 99999, rate > 0, 0 < duration <= 3600, 0 <= breach-fraction <= 1")
    if a.devices / a.rate < 0.002:
        p.error("each device would report more than 500 times a second (ts has millisecond precision)")
    a.drain_timeout = a.drain_timeout if a.drain_timeout is not None else max(60.0, 3 * a.duration)
    a.timeout = a.timeout if a.timeout is not None else 900 + a.duration + a.drain_timeout
    return a


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    return run_benchmark(parse_args(argv), "stayaway-bench-", run, print_report)


def run_benchmark(args: argparse.Namespace, prefix: str, run_fn: Any, report_fn: Any) -> int:
    """The frame every end-to-end benchmark shares: a temp dir, an overall timeout that stops every
    process it started, the report, ``--json`` and ``--keep``. Exit status: 0 every target met, 1 a
    target missed, 2 the run itself failed."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    tmp.chmod(0o755)
    r = Run(args, tmp)

    def overall_timeout() -> None:
        say(f"benchmark exceeded --timeout {args.timeout:g} s; stopping everything")
        r.procs.stop_all()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        os._exit(2)

    watchdog = threading.Timer(args.timeout, overall_timeout)
    watchdog.daemon = True
    watchdog.start()
    signal.signal(signal.SIGTERM, _interrupt)
    status = 2
    try:
        run_fn(r)
        report_fn(r.results)
        status = 0 if all(r.results["targets"].values()) else 1
    except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - report, then clean up
        say(f"benchmark failed: {exc.__class__.__name__}: {exc}")
        r.results["error"] = f"{exc.__class__.__name__}: {exc}"
        r.results["serve_log_tail"] = _tail(tmp / "serve.stderr", 3000)
    finally:
        r.procs.stop_all()
        watchdog.cancel()
        if args.json:
            args.json.write_text(json.dumps(r.results, indent=2, default=str))
        if args.keep:
            say(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return status

if __name__ == "__main__":
    sys.exit(main())
