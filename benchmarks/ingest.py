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
import math
import multiprocessing as mp
import os
import queue
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
_HERE = Path(__file__).resolve().parent
# Run as a script, this file's directory comes first on sys.path (and alerts.py there would shadow the
# ``alerts`` package the service imports): drop that entry, put the repository first, import ``benchmarks.*``.
sys.path[:] = [p for p in sys.path if Path(p or os.getcwd()).resolve() != _HERE]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.harness.database import database_url, db_figures
from benchmarks.harness.fixtures import (
    COURT_ID,
    HOME_RADIUS_M,
    agencies_geojson,
    distance_m,
    metres_per_degree,
    offset,
    order_id,
    rfc3339,
)
from benchmarks.harness.paho_clients import Console, PahoPublisher
from benchmarks.harness.processes import (
    healthz,
    import_fixtures,
    mosquitto_log,
    serve_log,
    start_mosquitto,
    start_serve,
    wait_for,
)
from benchmarks.harness.raw_mqtt import RawPublisher
from benchmarks.harness.report import (
    fmt,
    lat_row,
    parse_at,
    print_tables,
    say,
    summary_ms,
)
from benchmarks.harness.runner import Run, run_benchmark
from benchmarks.harness.sampling import Sampler, cpu_share, idle_cpu_pct, machine_info

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
TARGET_P99_MS = 200.0


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


# -- publisher processes -------------------------------------------------------------------------------


def publisher_main(w: int, workers: int, plan: Plan, port: int, ready_q: Any, go: Any, t0_value: Any,
                   out_q: Any) -> None:
    """One paho client publishing reports for devices [lo, hi) and their victims' panic presses."""
    try:
        out_q.put(_publish(w, workers, plan, port, ready_q, go, t0_value))
    except Exception as exc:  # noqa: BLE001 - report to the parent instead of dying silently
        out_q.put({"worker": w, "error": f"{exc.__class__.__name__}: {exc}"})


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


def _press_panic(client: PahoPublisher | RawPublisher, plan: Plan, i: int, panic_at: dict[int, float]) -> int:
    """Victim ``i``'s panic press, at her home; 1 when the client refused it, else 0."""
    vlat, vlon = offset(*plan.home[i], 40.0, 20.0)
    t = time.time()
    payload = '{"seq":1,"ts":"%s","lat":%.7f,"lon":%.7f,"acc":12.0,"silent":false}' % (rfc3339(t), vlat, vlon)
    if client.publish(f"stayaway/v1/devices/phone-{i:05d}/panic", payload):
        panic_at[i] = t
        return 0
    return 1


def _await_acks(client: PahoPublisher | RawPublisher, sent: int) -> None:
    """Until the broker acknowledged ``sent`` messages, at most 60 s."""
    deadline = time.time() + 60
    while client.acked < sent and time.time() < deadline:
        time.sleep(0.02)


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
            refused += _press_panic(client, plan, panics[pi][1], panic_at)
            pi += 1
        client.flush()
        wait = t0 + n / rate - time.time()
        if wait > 0:
            time.sleep(min(wait, 0.005, max(0.0, t_end - time.time())))
    cpu = time.process_time() - cpu0
    _await_acks(client, n - refused + len(panic_at) + victims)
    return {"locations": n - (refused - (len(panics) - len(panic_at))), "panics": len(panic_at), "refused": refused,
            "victim_locations": victims,
            "acked": client.acked, "acked_after_s": time.time() - t_end, "first": first, "last": last,
            "max_lag_s": max_lag, "cpu_s": cpu, "first_inside": first_inside, "panic_at": panic_at}


# -- measuring -----------------------------------------------------------------------------------------


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

    def share(name: str) -> float | None:
        return cpu_share(samples, name, t0, t_end)

    cores = os.cpu_count() or 1
    return {
        "accepted_per_s_while_publishing": live,
        "accepted_per_s_first_to_last": overall,
        "accepted_per_s_best_0_5s_window": max(windows) if windows else None,
        "backlog_max": max(backlog) if backlog else None,
        "backlog_at_end_of_publishing": at(t_end).get("backlog"),
        "drain_after_publishing_s": (reached["t"] - t_end) if reached else None,
        "serve_cpu_pct_while_publishing": share("serve"),
        "mosquitto_cpu_pct_while_publishing": share("mosquitto"),
        "machine_cpu_pct_while_publishing": (share("machine_busy") or 0) / cores,
        "benchmark_tree_cpu_pct_while_publishing": share("ours"),
        "other_processes_cpu_pct_while_publishing": share("other"),
        "serve_rss_peak_mib": max((s.get("serve_rss", 0) for s in samples), default=0) / 2**20,
        "mosquitto_rss_peak_mib": max((s.get("mosquitto_rss", 0) for s in samples), default=0) / 2**20,
    }


# -- the run -------------------------------------------------------------------------------------------


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
    res["import_s"] = import_fixtures(r.procs, tmp, db_url, agencies_geojson(), orders_json(plan))

    say("[3/6] stayaway serve")
    t = time.time()
    serve, http_port = start_serve(r.procs, tmp, port, db_url, a.devices)
    res["serve_ready_s"] = time.time() - t
    console = Console(port)
    console.start()
    res["serve_idle_cpu_pct"] = idle_cpu_pct(serve.pid, 3.0)

    say(f"[4/6] {a.publishers} publishers, {a.rate:g}/s offered for {a.duration:g} s")
    workers, t0, sampler = publish(r, plan, port, (serve.pid, mosq.pid, http_port))
    say("[5/6] draining")
    drain_and_measure(r, plan, workers, (t0, t0 + a.duration), sampler, console, http_port)

    say("[6/6] stopping, then reading the database")
    res["exit_codes"] = r.procs.stop_all()
    res["db"] = db_figures(db_url)
    res["serve_log"] = serve_log(tmp)
    res["mosquitto_log"] = mosquitto_log(tmp)
    res["targets"] = targets(res, a)


def publish(r: Run, plan: Plan, port: int, sampled: tuple[int, int, int]) -> tuple[list[dict[str, Any]], float, Sampler]:
    """The publisher processes, started together one second after all connected, with a ``Sampler`` of
    ``sampled`` (serve's and Mosquitto's pids, serve's HTTP port) started just before; returns their
    reports, the start and the sampler."""
    a = r.args
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
    sampler = Sampler(*sampled, deadline=time.time() + a.timeout)
    sampler.start()
    go.set()
    workers = [out_q.get(timeout=a.duration + 90) for _ in range(a.publishers)]
    for p in r.procs.workers:
        p.join(10)
    errors = [w["error"] for w in workers if "error" in w]
    if errors:
        raise RuntimeError(f"publisher failed: {errors}")
    return workers, t0, sampler


def drain_and_measure(r: Run, plan: Plan, workers: list[dict[str, Any]], span: tuple[float, float],
                      sampler: Sampler, console: Console, http_port: int) -> None:
    """Waits until serve processed what the broker took and every alert arrived; then the figures."""
    a, res = r.args, r.results
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

    res["publish"] = publish_figures(workers, a.duration) | {
        "breach_reports_published": len(breach_start), "breaching_planned": len(plan.breach_at)}
    last = sampler.samples[-1] if sampler.samples else {}
    code, body = healthz(http_port)
    res["server"] = server_rates(sampler.samples, *span) | {
        "drained": drained, "alerts_complete": alerts_complete, "counters": body.get("counters", {}),
        "final_backlog": body.get("ingest_backlog", last.get("backlog")), "outbox_pending": body.get("outbox_pending")}
    res["breach_alerts"] = alert_latencies(console, breach_start, "zone_breach")
    res["breach_alerts"]["never_published_inside"] = sorted(set(plan.breach_at) - set(breach_start))
    res["panic_alerts"] = alert_latencies(console, panic_start, "panic")
    res["console"] = message_census(console, set(plan.breach_at))
    res["console"]["messages_received"] = [{"recv": round(t, 4), **{k: m.get(k) for k in (
        "order_id", "kind", "event", "agency_id", "at", "occurred_at", "event_id")}} for t, m in console.messages]


def publish_figures(workers: list[dict[str, Any]], duration: float) -> dict[str, Any]:
    return {
        "locations": sum(w["locations"] for w in workers), "panics": sum(w["panics"] for w in workers),
        "broker_acked": sum(w["acked"] for w in workers), "refused_by_client": sum(w["refused"] for w in workers),
        "lost_unacked": sum(max(0, w["locations"] + w["panics"] + w["victim_locations"] - w["acked"]) for w in workers),
        "victim_locations": sum(w["victim_locations"] for w in workers),
        "last_puback_after_end_s": max(w["acked_after_s"] for w in workers),
        "achieved_rate": sum(w["locations"] for w in workers) / duration,
        "max_schedule_lag_s": max(w["max_lag_s"] for w in workers),
        "publisher_cpu_pct": sum(w["cpu_s"] for w in workers) / duration * 100,
    }


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


def print_report(res: dict[str, Any]) -> None:
    c, m, pub, srv, db = res["config"], res["machine"], res["publish"], res["server"], res.get("db", {})
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
        *alert_rows(res),
        None,
        *resource_rows(res),
    ]
    print_tables("stayaway ingest benchmark", rows, res["targets"], 160)


def alert_rows(res: dict[str, Any]) -> list[tuple[str, str]]:
    ba, pa, con, pub = res["breach_alerts"], res["panic_alerts"], res["console"], res["publish"]
    return [
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
    ]


def resource_rows(res: dict[str, Any]) -> list[tuple[str, str] | None]:
    pub, srv, db = res["publish"], res["server"], res.get("db", {})
    return [
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


def main(argv: list[str] | None = None) -> int:
    return run_benchmark(parse_args(argv), "stayaway-bench-", run, print_report)


if __name__ == "__main__":
    sys.exit(main())
