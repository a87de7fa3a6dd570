"""Alert benchmark: a burst of 1,000 breaches, the webhook leg, and a tamper storm against panics.

    .venv/bin/python benchmarks/alerts.py [--json FILE] [--orders 1000] [--storm 10000] [--keep]

Against a private Mosquitto (deploy/mosquitto.conf) and ``stayaway serve`` on SQLite, set up with
the shared harness (benchmarks/harness: processes, raw MQTT consoles and devices, sampling, report):

  1. burst: ``--orders`` trackers each send one fix 20 m outside their home circle (300 m), then,
     once those are processed, all step ~100 m into it within the same instant (acc 5 m, ts now).
     Measured: each inside fix's publish -> the ``zone_breach`` ``raised`` message at the police
     console (one MQTT session per police agency) and at the court console; p50/p99/max, and how long
     until all 2 x orders messages arrived. Target: p99 <= 1 s.
  2. webhook leg: each police copy of those alert messages, as the console received it, is handed to
     ``WebhookSender`` (service/adapters/channels/webhook.py) for a local HTTP receiver in its own
     process, which checks every signature with ``verify``. This measures the channel itself, console
     receipt -> webhook receipt; serve's own per-agency webhooks are not configured here.
  3. storm isolation: first ``--baseline-panics`` victim phones press panic with no other traffic;
     then one faulty tracker floods ``--storm`` status messages (strap open/closed and battery 10/90
     alternating: a strap_tamper and battery_low event storm for its order) as fast as it can while,
     every ``--storm-panic-every`` s until serve has processed the storm and its last alert reached a
     console, another order's victim presses panic, alternately in the storm's own police area and
     in another one. Measured: panic publish ->
     ``panic`` ``raised`` at that order's police console. Target: the worst panic during the storm
     arrives no more than 100 ms later than the median panic without it (same police area).

Exit status: 0 when every target was met, 1 when one was missed, 2 when the harness failed.
Only loopback addresses are used; every wait is bounded and ``--timeout`` bounds the run.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import math
import multiprocessing as mp
import os
import queue
import random
import secrets
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
_HERE = Path(__file__).resolve().parent
# Run as a script, this file's directory comes first on sys.path, and this file's name would shadow the
# ``alerts`` package that the service imports: drop that entry, put the repository first, and import
# the shared harness as ``benchmarks.harness``.
sys.path[:] = [p for p in sys.path if Path(p or os.getcwd()).resolve() != _HERE]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.harness.database import database_url, db_figures
from benchmarks.harness.fixtures import (
    COURT_ID,
    HOME_RADIUS_M,
    agencies_geojson,
    offset,
    order_id,
    police_squares,
    rfc3339,
)
from benchmarks.harness.processes import (
    LOOPBACK,
    healthz,
    import_fixtures,
    mosquitto_log,
    serve_log,
    start_mosquitto,
    start_serve,
    wait_for,
)
from benchmarks.harness.raw_mqtt import (
    AgencyConsole,
    Devices,
    RawPublisher,
    first_raised,
)
from benchmarks.harness.report import (
    fmt,
    lat_row,
    parse_at,
    print_tables,
    say,
    summary_ms,
)
from benchmarks.harness.runner import Run, run_benchmark
from benchmarks.harness.sampling import Sampler, cpu_share, machine_info

OUTSIDE_M = HOME_RADIUS_M + 20.0  # the first fix: 20 m outside the home circle
INSIDE_M = HOME_RADIUS_M - 100.0  # the second: ~100 m deep
MIN_STEP_S = 3.0  # outside fix -> inside fix: 120 m in >= 3 s stays under the service's 70 m/s jump check
INTERVAL_S = 3600  # reporting interval in the orders: no signal_lost within a run
STORM_POLICE = "police-r0c0"  # the storm's tracker is here; half the panics too
OTHER_POLICE = "police-r1c1"  # the other half of the panics
TARGET_BURST_P99_MS = 1000.0
TARGET_STORM_DELAY_MS = 100.0
POLL_S = 0.05  # /healthz polls during the storm: when serve has processed all of it
MIN_STORM_PANICS = 3  # fewer panics during the storm than this: the isolation target is not shown to hold
WEBHOOK_PRIORITY = 1  # the outbox priority of a critical alert (zone_breach), as the service would give it


# -- the orders: the harness's police grid --------------------------------------------------------------


def random_point(rng: random.Random, square: tuple[float, float, float, float], inset: float = 0.02) -> tuple[float, float]:
    """A point at least ``inset`` degrees (~2 km) inside the square."""
    a, b, w, e = square
    return rng.uniform(a + inset, b - inset), rng.uniform(w + inset, e - inset)


def make_orders(rng: random.Random, n_breach: int, n_panic: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Orders 0..n_breach-1 breach; n_breach is the storm's; then n_panic whose victims press panic.
    Returns the orders and the plan (positions and expected police) for the publishers."""
    squares = police_squares()
    names = sorted(squares)
    now = time.time()
    issued, expires = rfc3339(now - 86400), rfc3339(now + 150 * 86400)  # within the law in force's 6 months
    orders, breach, panic = [], [], []

    def order(i: int, home: tuple[float, float]) -> dict[str, Any]:
        return {"order_id": order_id(i), "type": "ordinary", "court": COURT_ID, "issued_at": issued,
                "expires_at": expires,
                "respondent": {"person_id": f"R-{i:05d}", "device_id": f"trk-{i:05d}", "report_interval_s": INTERVAL_S},
                "victim": {"person_id": f"V-{i:05d}", "device_id": f"phone-{i:05d}", "report_interval_s": INTERVAL_S},
                "datum": "wgs84",
                "zones": {"type": "FeatureCollection", "features": [
                    {"type": "Feature", "geometry": {"type": "Point", "coordinates": [round(home[1], 7), round(home[0], 7)]},
                     "properties": {"zone_id": "home", "kind": "home", "name": "Victim's home",
                                    "radius_m": HOME_RADIUS_M}}]}}

    for i in range(n_breach):
        police = names[i % len(names)]
        home = random_point(rng, squares[police])
        theta = rng.uniform(0, 2 * math.pi)
        ux, uy = math.sin(theta), math.cos(theta)
        outside = offset(*home, ux * OUTSIDE_M, uy * OUTSIDE_M)
        inside = offset(*home, ux * INSIDE_M, uy * INSIDE_M)
        orders.append(order(i, home))
        breach.append({"i": i, "home": home, "outside": outside, "inside": inside, "police": police})
    storm_i = n_breach
    storm_home = random_point(rng, squares[STORM_POLICE], 0.05)
    storm_fix = offset(*storm_home, 3000.0, 0.0)  # 3 km from its home: a valid fix in the storm's police area
    orders.append(order(storm_i, storm_home))
    for k in range(n_panic):
        i = n_breach + 1 + k
        police = STORM_POLICE if k % 2 == 0 else OTHER_POLICE
        home = random_point(rng, squares[police])
        orders.append(order(i, home))
        panic.append({"i": i, "police": police, "at": offset(*home, 40.0, 20.0)})
    return orders, {"breach": breach, "storm": {"i": storm_i, "fix": storm_fix}, "panic": panic}


# -- the webhook receiver (its own process) -----------------------------------------------------------
def receiver_main(secret: bytes, port_q: Any, stop: Any, out_q: Any) -> None:
    """A plain HTTP receiver on loopback: stamps each POST once its body is read, checks the signature with
    ``verify``, answers 200 (401 when it does not verify); on ``stop`` sends its records to the parent."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from service.adapters.channels.webhook import verify

    records: list[tuple[float, str, bool, str]] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            t = time.time()
            ok = verify(secret, self.headers.get("X-Stayaway-Timestamp", ""), body,
                        self.headers.get("X-Stayaway-Signature", ""), time.time())
            with lock:
                records.append((t, self.headers.get("X-Stayaway-Event-Id", ""), ok, self.path))
            self.send_response(200 if ok else 401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_a: Any) -> None:
            pass

    try:
        server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        server.daemon_threads = True
        port_q.put(server.server_address[1])
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        stop.wait(900)
        server.shutdown()
        with lock:
            out_q.put(list(records))
    except Exception as exc:  # noqa: BLE001 - report to the parent instead of dying silently
        out_q.put({"error": f"{exc.__class__.__name__}: {exc}"})


class WebhookLeg:
    """Hands each police copy of a wanted ``zone_breach`` ``raised`` message, as the console got it, to a
    ``WebhookSender``; ``delivered`` counts the 2xx answers."""

    def __init__(self, url: str, secret: bytes, wanted: set[str], workers: int) -> None:
        from service.adapters.channels.webhook import Delivery, WebhookSender

        self.Delivery, self.url, self.secret, self.wanted = Delivery, url, secret, wanted
        self.received: dict[str, float] = {}  # event_id -> console receipt
        self.attempts: list[Any] = []
        self.delivered = 0
        self._ids = iter(range(1, 1 << 30))
        self._lock = threading.Lock()
        self.sender = WebhookSender(self._on_attempt, self._on_delivered, lambda: datetime.now(UTC), workers=workers,
                                    timeout_s=10.0)

    def start(self) -> None:
        self.sender.start()

    def hook(self, t: float, payload: bytes) -> None:
        if b'"zone_breach"' not in payload or b'"raised"' not in payload:
            return
        m = json.loads(payload)
        if m.get("kind") != "zone_breach" or m.get("event") != "raised" or m.get("order_id") not in self.wanted:
            return
        event_id = m.get("event_id") or f"{m.get('alert_id')}:{m.get('agency_id')}"
        with self._lock:
            if event_id in self.received:
                return
            self.received[event_id] = t
            did = next(self._ids)
        self.sender.submit(self.Delivery(did, self.url, self.secret, payload, event_id, WEBHOOK_PRIORITY))

    def _on_attempt(self, attempt: Any) -> None:
        self.attempts.append(attempt)

    def _on_delivered(self, _id: int) -> None:
        with self._lock:
            self.delivered += 1


def forged_request_refused(port: int) -> bool:
    """A control: a request signed with another secret must be refused by the receiver."""
    from service.adapters.channels.webhook import signed_headers

    body = b'{"control":"forged"}'
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=5)
    try:
        conn.request("POST", "/control", body, signed_headers(b"not-the-secret", int(time.time()), body, "control:1"))
        return conn.getresponse().status == 401
    finally:
        conn.close()


# -- the storm's tracker (its own process) ------------------------------------------------------------
def flood_main(port: int, device: str, n: int, ready: Any, go: Any, out_q: Any) -> None:
    """One faulty tracker: ``n`` status messages back to back (QoS 1, not waiting for PUBACKs)."""
    try:
        pub = RawPublisher(port, f"bench-storm-{os.getpid()}")
        try:
            ready.set()
            if not go.wait(300):
                raise TimeoutError("no start signal")
            t_topic = f"stayaway/v1/devices/{device}/status"
            first = time.time()
            for k in range(n):
                opened = k % 2 == 0
                pub.publish(t_topic, '{"seq":%d,"ts":"%s","strap":"%s","batt":%d}' % (
                    10_000 + k, rfc3339(time.time()), "open" if opened else "closed", 10 if opened else 90))
                if k % 50 == 49:
                    pub.flush()
            pub.flush()
            last = time.time()
            deadline = time.time() + 120
            while pub.acked < n and time.time() < deadline:
                time.sleep(0.01)
            out_q.put({"first": first, "last": last, "acked": pub.acked, "acked_at": time.time(), "sent": n})
        finally:
            pub.close()
    except Exception as exc:  # noqa: BLE001
        out_q.put({"error": f"{exc.__class__.__name__}: {exc}"})


# -- helpers ----------------------------------------------------------------------------------------------
def quiet(http_port: int, processed: int) -> bool:
    """serve has processed ``processed`` messages, holds none, and the broker acknowledged every alert."""
    code, body = healthz(http_port)
    return (code == 200 and body.get("counters", {}).get("messages", 0) >= processed
            and body.get("ingest_backlog") == 0 and body.get("outbox_pending") == 0)


def settled(consoles: list[AgencyConsole], still_s: float = 0.5, timeout_s: float = 60) -> bool:
    """No console got anything for ``still_s``."""
    deadline = time.time() + timeout_s
    last = -1
    since = time.time()
    while time.time() < deadline:
        n = sum(len(c.raw) for c in consoles)
        if n != last:
            last, since = n, time.time()
        elif time.time() - since >= still_s:
            return True
        time.sleep(0.05)
    return False


def phase_cpu(sampler: Any, t0: float, t1: float) -> dict[str, float | None]:
    """serve, mosquitto, the benchmark's own processes (its tree less those two), everything else."""
    got = {n: cpu_share(list(sampler.samples), n, t0 - 0.5, t1 + 0.5) for n in ("serve", "mosquitto", "ours", "other")}
    tree = got.pop("ours")
    got["benchmark"] = None if tree is None else tree - (got["serve"] or 0) - (got["mosquitto"] or 0)
    got["other processes"] = got.pop("other")
    return got


def max_health(sampler: Any, t0: float, t1: float, key: str) -> int | None:
    xs = [s.get(key) for s in list(sampler.samples) if t0 <= s["t"] <= t1 + 0.6 and s.get(key) is not None]
    return max(xs) if xs else None


# -- the scenarios ------------------------------------------------------------------------------------------
def burst(ctx: dict[str, Any], a: argparse.Namespace) -> dict[str, Any]:
    devices, http_port, plan = ctx["devices"], ctx["http_port"], ctx["plan"]
    police, court, leg = ctx["police"], ctx["court"], ctx["leg"]
    breach = plan["breach"]
    say(f"[4/7] burst: {len(breach):,} trackers outside their home, then all inside at once")
    t_out = time.time()
    for b in breach:
        devices.fix(f"trk-{b['i']:05d}", b["outside"])
    storm = plan["storm"]
    devices.fix(f"trk-{storm['i']:05d}", storm["fix"])  # the storm tracker's position (its police area)
    if not devices.all_acked() or not wait_for(lambda: quiet(http_port, devices.sent), 60, 0.1):
        raise RuntimeError("serve did not process the outside fixes")
    outside_alerts = sum(len(c.raw) for c in (*police.values(), court))
    time.sleep(max(0.0, t_out + MIN_STEP_S - time.time()))

    t_burst0 = time.time()
    start: dict[str, float] = {}
    for b in breach:
        start[order_id(b["i"])] = devices.fix(f"trk-{b['i']:05d}", b["inside"])
    t_burst1 = time.time()
    consoles = [*police.values(), court]
    expected = {(order_id(b["i"]), ag) for b in breach for ag in (b["police"], COURT_ID)}

    def arrived() -> bool:
        return expected <= set(first_raised(consoles, "zone_breach"))

    all_in = wait_for(arrived, a.wait, 0.1)
    webhooks_in = wait_for(lambda: leg.delivered >= len(breach), a.wait, 0.1)
    wait_for(lambda: quiet(http_port, devices.sent), 30, 0.2)
    settled(consoles)
    t_end = time.time()

    got = first_raised(consoles, "zone_breach")
    latencies, wrong_police, several = burst_latencies(breach, start, got)
    arrivals = [t for (o, ag), (t, _m) in got.items() if o in start and (o, ag) in expected]
    counts = by_kind_event(m for c in consoles for _t, m in c.messages())
    false_breach = sum(1 for c in consoles for _t, m in c.messages()
                       if m.get("kind") == "zone_breach" and m.get("order_id") not in start)
    slowest = sorted(((t - start[o], o, ag) for (o, ag), (t, _m) in got.items() if (o, ag) in expected), reverse=True)[:5]
    res = {
        "orders": len(breach), "expected_messages": len(expected),
        "arrived_messages": len(expected & set(got)), "all_arrived": all_in,
        "alerts_before_burst": outside_alerts,
        "burst_publish_span_ms": (t_burst1 - t_burst0) * 1000,
        **latencies,
        "all_arrived_after_ms": (max(arrivals) - t_burst0) * 1000 if arrivals else None,
        "first_arrival_after_ms": (min(arrivals) - t_burst0) * 1000 if arrivals else None,
        "wrong_police": wrong_police, "orders_with_several_alert_ids": several, "false_breach_messages": false_breach,
        "console_messages_by_kind_event": counts,
        "slowest": [{"order_id": o, "agency_id": ag, "ms": round(v * 1000, 1)} for v, o, ag in slowest],
        "t_start": t_burst0, "t_end": t_end, "webhooks_delivered_in_time": webhooks_in,
        "backlog_max": max_health(ctx["sampler"], t_burst0, t_end, "backlog"),
        "outbox_pending_max": max_health(ctx["sampler"], t_burst0, t_end, "outbox_pending"),
        "cpu_pct": phase_cpu(ctx["sampler"], t_burst0, t_end),
    }
    ctx["burst_start"] = start
    return res


def by_kind_event(messages: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for m in messages:
        key = f"{m.get('kind')}/{m.get('event')}"
        counts[key] = counts.get(key, 0) + 1
    return counts


def burst_latencies(breach: list[dict[str, Any]], start: dict[str, float],
                    got: dict[tuple[str, str], tuple[float, dict[str, Any]]]) -> tuple[dict[str, Any], int, int]:
    """Each inside fix's publish -> its first 'raised' message at its police and at the court console (and
    the police's split at 'at'); with the messages at a wrong police console and the orders with several
    alert ids."""
    lat_police, lat_court, lat_all, to_at, at_to_console = [], [], [], [], []
    wrong_police = 0
    alert_ids: dict[str, set[str]] = {}
    for b in breach:
        oid = order_id(b["i"])
        t_pub = start[oid]
        for (o, ag), (t, m) in ((k, v) for k, v in got.items() if k[0] == oid):
            alert_ids.setdefault(oid, set()).add(m.get("alert_id"))
            if ag == COURT_ID:
                lat_court.append(t - t_pub)
            elif ag == b["police"]:
                lat_police.append(t - t_pub)
                at = parse_at(m.get("at"))
                if at is not None:
                    to_at.append(at - t_pub)
                    at_to_console.append(t - at)
            else:
                wrong_police += 1
                continue
            lat_all.append(t - t_pub)
    several = sum(1 for ids in alert_ids.values() if len(ids) > 1)
    return ({"police": summary_ms(lat_police), "court": summary_ms(lat_court), "all": summary_ms(lat_all),
             "police_publish_to_event_at": summary_ms(to_at), "police_event_at_to_console": summary_ms(at_to_console)},
            wrong_police, several)


def webhook_results(ctx: dict[str, Any], records: list[tuple[float, str, bool, str]], forged_refused: bool,
                    n_orders: int) -> dict[str, Any]:
    leg: WebhookLeg = ctx["leg"]
    first: dict[str, tuple[float, bool]] = {}
    for t, event_id, ok, path in records:
        if path != "/control" and event_id not in first:
            first[event_id] = (t, ok)
    lat = [first[e][0] - t for e, t in leg.received.items() if e in first]
    breach_start = ctx.get("burst_start", {})
    by_event_order = {}
    for _t, m in ctx["police_messages_for_webhooks"]:
        if m.get("event_id") in first:
            by_event_order[m["event_id"]] = m.get("order_id")
    end_to_end = [first[e][0] - breach_start[o] for e, o in by_event_order.items() if o in breach_start]
    failed = [at for at in leg.attempts if not at.ok]
    return {
        "submitted": len(leg.received), "delivered": leg.delivered, "expected": n_orders,
        "received_requests": sum(1 for r in records if r[3] != "/control"),
        "verified": sum(1 for e, (_t, ok) in first.items() if ok), "not_verified": sum(1 for _e, (_t, ok) in first.items() if not ok),
        "failed_attempts": len(failed), "failed_examples": [f"{a.status_code} {a.error}" for a in failed[:3]],
        "forged_request_refused": forged_refused,
        "console_to_webhook": summary_ms(lat), "breach_publish_to_webhook": summary_ms(end_to_end),
        "all_delivered_after_first_console_receipt_ms":
            (max(t for t, _ok in first.values()) - min(leg.received.values())) * 1000 if first and leg.received else None,
        "workers": ctx["webhook_workers"],
        "note": "the channel alone: WebhookSender fed by the police console's received messages; serve's own "
                "per-agency webhooks (agencies' webhook_url) are not configured in this run",
    }


def panics(ctx: dict[str, Any], group: list[dict[str, Any]], every_s: float, until: Any = None) -> list[dict[str, Any]]:
    """Press panic on each victim's phone of ``group`` every ``every_s``; stop early once ``until()``."""
    devices = ctx["devices"]
    out = []
    t0 = time.time()
    for k, p in enumerate(group):
        due = t0 + k * every_s
        while time.time() < due:
            time.sleep(min(0.005, max(0.0, due - time.time())))
        if until is not None and k > 0 and until():
            break
        t = devices.panic(f"phone-{p['i']:05d}", p["at"])
        out.append({"order_id": order_id(p["i"]), "police": p["police"], "published": t})
    return out


def panic_latencies(ctx: dict[str, Any], pressed: list[dict[str, Any]]) -> None:
    """Fills each press with its arrival at its police console (and the split at 'at')."""
    got = first_raised(list(ctx["police"].values()), "panic")
    for p in pressed:
        hit = got.get((p["order_id"], p["police"]))
        p["arrived"] = hit[0] if hit else None
        p["ms"] = (hit[0] - p["published"]) * 1000 if hit else None
        at = parse_at(hit[1].get("at")) if hit else None
        p["publish_to_at_ms"] = (at - p["published"]) * 1000 if at is not None else None
        p["at_to_console_ms"] = (hit[0] - at) * 1000 if hit and at is not None else None


def panic_summary(pressed: list[dict[str, Any]]) -> dict[str, Any]:
    ms = [p["ms"] for p in pressed if p["ms"] is not None]
    s = summary_ms([v / 1000 for v in ms])
    s["pressed"] = len(pressed)
    s["alerted"] = len(ms)
    s["publish_to_at"] = summary_ms([p["publish_to_at_ms"] / 1000 for p in pressed if p["publish_to_at_ms"] is not None])
    s["at_to_console"] = summary_ms([p["at_to_console_ms"] / 1000 for p in pressed if p["at_to_console_ms"] is not None])
    return s


def storm(ctx: dict[str, Any], a: argparse.Namespace) -> dict[str, Any]:
    devices, http_port, plan, sampler = ctx["devices"], ctx["http_port"], ctx["plan"], ctx["sampler"]
    base_group, storm_group = plan["panic"][:a.baseline_panics], plan["panic"][a.baseline_panics:]
    base, tb0, tb1 = baseline_panics(ctx, a, base_group)

    say(f"[7/7] storm: {a.storm:,} status messages from one tracker, a panic every {a.storm_panic_every:g} s meanwhile")
    storm_dev = f"trk-{plan['storm']['i']:05d}"
    proc, go, out_q = start_flood(ctx, a, storm_dev)
    processed_before = healthz(http_port)[1].get("counters", {}).get("messages", 0)
    poller = HealthPoller(http_port).start()
    health = poller.health
    flood: dict[str, Any] = {}
    ts0 = time.time()
    go.set()
    time.sleep(0.05)

    def storm_over() -> bool:
        if not flood:
            try:
                flood.update(out_q.get_nowait())
            except queue.Empty:
                return False
        h = health[-1] if health else {}
        return (h.get("code") == 200 and (h.get("messages") or 0) >= processed_before + a.storm + len(pressed)
                and h.get("backlog") == 0 and h.get("outbox_pending") == 0)

    pressed: list[dict[str, Any]] = []
    press_during_storm(devices, a, storm_group, ts0, storm_over, pressed)
    over = wait_for(storm_over, a.wait + 60, 0.1)
    t_server_quiet = server_quiet_at(health, processed_before + a.storm, pressed)
    poller.stop()
    proc.join(10)
    if "error" in flood:
        raise RuntimeError(f"storm tracker failed: {flood['error']}")
    consoles = [*ctx["police"].values(), ctx["court"]]
    settled(consoles, 1.0, 60)
    panic_latencies(ctx, pressed)

    census = storm_census(consoles, order_id(plan["storm"]["i"]), ts0)
    last_storm = census["last"]
    storm_end = storm_end_at(last_storm, t_server_quiet)
    res = {
        "status_messages": a.storm, "storm_device": storm_dev, "storm_police": STORM_POLICE, "other_police": OTHER_POLICE,
        **flood_figures(flood, a.storm),
        "server_drained_after_s": (t_server_quiet - ts0) if t_server_quiet else None,
        "last_storm_message_after_s": (last_storm - ts0) if last_storm else None,
        "storm_lasted_s": storm_end - ts0, "drained": over,
        "storm_console_messages": {"police": census["police"], "court": census["court"], "by_kind_event": census["by_kind_event"]},
        **health_figures(health),
        **panic_figures(base, pressed, ts0, storm_end),
        "cpu_pct_baseline": phase_cpu(sampler, tb0, tb1), "cpu_pct_storm": phase_cpu(sampler, ts0, storm_end),
        "processed_before": processed_before,
        "healthz_trace": [{"after_s": round(h["t"] - ts0, 2), **{k: h[k] for k in ("code", "messages", "backlog", "outbox_pending")}}
                          for h in health],
    }
    for area in ("all", "storm_police", "other_police"):
        b, d = res["baseline"][area], res["during"][area]
        res["during"][area]["max_over_baseline_p50_ms"] = (d["max_ms"] - b["p50_ms"]) if d["max_ms"] is not None and b["p50_ms"] is not None else None
        res["during"][area]["p50_over_baseline_p50_ms"] = (d["p50_ms"] - b["p50_ms"]) if d["p50_ms"] is not None and b["p50_ms"] is not None else None
    return res


def server_quiet_at(health: list[dict[str, Any]], processed: int, pressed: list[dict[str, Any]]) -> float | None:
    """The first /healthz poll at which serve had processed ``processed`` messages and the presses published
    before it, and held none."""
    return next((h["t"] for h in health if h.get("code") == 200 and h.get("backlog") == 0
                 and h.get("outbox_pending") == 0 and (h.get("messages") or 0) >= processed
                 + sum(1 for p in pressed if p["published"] < h["t"] - 0.05)), None)


def storm_end_at(last_storm: float | None, t_server_quiet: float | None) -> float:
    """The storm is over once serve has processed its last message and its last alert reached a console."""
    return max(t for t in (last_storm, t_server_quiet) if t is not None) if (last_storm or t_server_quiet) \
        else time.time()


def flood_figures(flood: dict[str, Any], n: int) -> dict[str, Any]:
    """The storm tracker's own figures: how long its ``n`` messages took to publish and to be acknowledged."""
    return {
        "flood_publish_s": (flood["last"] - flood["first"]) if flood else None,
        "flood_rate_per_s": n / (flood["last"] - flood["first"]) if flood and flood["last"] > flood["first"] else None,
        "flood_broker_acked": flood.get("acked"), "flood_all_acked_after_s": (flood["acked_at"] - flood["first"]) if flood else None,
    }


def health_figures(health: list[dict[str, Any]]) -> dict[str, Any]:
    health_ok = [h for h in health if h.get("code") == 200]
    return {
        "ingest_backlog_max": max((h["backlog"] or 0 for h in health_ok), default=None),
        "outbox_pending_max": max((h["outbox_pending"] or 0 for h in health_ok), default=None),
        "healthz_slowest_gap_s": max((y["t"] - x["t"] for x, y in itertools.pairwise(health)), default=None),
    }


def baseline_panics(ctx: dict[str, Any], a: argparse.Namespace,
                    group: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], float, float]:
    """The panics without a storm, measured: (the presses, when they began, when all had settled)."""
    devices, http_port, police = ctx["devices"], ctx["http_port"], ctx["police"]
    say(f"[6/7] panics without a storm: {len(group)}, one every {a.panic_every:g} s")
    tb0 = time.time()
    base = panics(ctx, group, a.panic_every)
    wait_for(lambda: all(k in first_raised(list(police.values()), "panic") for k in
                         ((p["order_id"], p["police"]) for p in base)), a.wait, 0.1)
    wait_for(lambda: quiet(http_port, devices.sent), 30, 0.1)
    settled([*police.values(), ctx["court"]])
    tb1 = time.time()
    panic_latencies(ctx, base)
    return base, tb0, tb1


def start_flood(ctx: dict[str, Any], a: argparse.Namespace, storm_dev: str) -> tuple[Any, Any, Any]:
    """The storm's tracker in its own process, connected: (the process, its start event, its report queue)."""
    mpx = mp.get_context("spawn")
    ready, go, out_q = mpx.Event(), mpx.Event(), mpx.Queue()
    proc = mpx.Process(target=flood_main, args=(ctx["mqtt_port"], storm_dev, a.storm, ready, go, out_q),
                       name="bench-storm", daemon=True)
    proc.start()
    ctx["procs"].workers.append(proc)
    if not ready.wait(60):
        raise RuntimeError("the storm's tracker did not connect")
    return proc, go, out_q


class HealthPoller:
    """The storm's progress on the server: /healthz every POLL_S, off the panic-pressing thread."""

    def __init__(self, http_port: int) -> None:
        self.http_port = http_port
        self.health: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="bench-storm-health", daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            code, body = healthz(self.http_port)
            self.health.append({"t": time.time(), "code": code, "messages": body.get("counters", {}).get("messages"),
                                "backlog": body.get("ingest_backlog"), "outbox_pending": body.get("outbox_pending")})
            self._stop.wait(POLL_S)

    def start(self) -> HealthPoller:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def press_during_storm(devices: Devices, a: argparse.Namespace, group: list[dict[str, Any]], ts0: float,
                       storm_over: Any, pressed: list[dict[str, Any]]) -> None:
    """A panic every ``--storm-panic-every`` s from ``ts0`` + 50 ms, appended to ``pressed``, until the storm is over."""
    for k, p in enumerate(group):  # storm_over() counts the presses so far: the last one is panic_every old
        due = ts0 + 0.05 + k * a.storm_panic_every
        while time.time() < due:
            time.sleep(min(0.005, max(0.0, due - time.time())))
        if k and storm_over():
            break
        pressed.append({"order_id": order_id(p["i"]), "police": p["police"],
                        "published": devices.panic(f"phone-{p['i']:05d}", p["at"])})


def storm_census(consoles: list[AgencyConsole], storm_oid: str, ts0: float) -> dict[str, Any]:
    """The storm order's messages at the consoles since ``ts0``: by kind/event, police and court, the last arrival."""
    storm_msgs: dict[str, int] = {}
    last_storm = None
    storm_police_count = storm_court_count = 0
    for c in consoles:
        for t, m in c.messages():
            if m.get("order_id") == storm_oid and t >= ts0:
                key = f"{m.get('kind')}/{m.get('event')}"
                storm_msgs[key] = storm_msgs.get(key, 0) + 1
                last_storm = t if last_storm is None else max(last_storm, t)
                if m.get("agency_id") == COURT_ID:
                    storm_court_count += 1
                else:
                    storm_police_count += 1
    return {"by_kind_event": storm_msgs, "last": last_storm, "police": storm_police_count, "court": storm_court_count}


def panic_figures(base: list[dict[str, Any]], pressed: list[dict[str, Any]], ts0: float,
                  storm_end: float) -> dict[str, Any]:
    during = [p for p in pressed if p["published"] < storm_end]
    return {
        "panics_pressed": len(pressed), "panics_during_storm": len(during),
        "last_press_after_s": (max(p["published"] for p in during) - ts0) if during else None,
        "baseline": {"all": panic_summary(base),
                     "storm_police": panic_summary([p for p in base if p["police"] == STORM_POLICE]),
                     "other_police": panic_summary([p for p in base if p["police"] == OTHER_POLICE])},
        "during": {"all": panic_summary(during),
                   "storm_police": panic_summary([p for p in during if p["police"] == STORM_POLICE]),
                   "other_police": panic_summary([p for p in during if p["police"] == OTHER_POLICE])},
        "presses": [{"order_id": p["order_id"], "police": p["police"],
                     "after_storm_start_s": round(p["published"] - ts0, 3),
                     "during_storm": p["published"] < storm_end, "ms": _r(p["ms"]),
                     "publish_to_at_ms": _r(p["publish_to_at_ms"]), "at_to_console_ms": _r(p["at_to_console_ms"])}
                    for p in pressed],
        "baseline_presses": [{"order_id": p["order_id"], "police": p["police"], "ms": _r(p["ms"]),
                              "publish_to_at_ms": _r(p["publish_to_at_ms"]), "at_to_console_ms": _r(p["at_to_console_ms"])}
                             for p in base],
    }


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 1)


def targets(res: dict[str, Any]) -> dict[str, bool]:
    b, w, s = res["burst"], res["webhooks"], res["storm"]
    out = {
        f"burst: all {b['expected_messages']:,} zone_breach 'raised' messages arrived (police and court), right police":
            b["arrived_messages"] == b["expected_messages"] and b["wrong_police"] == 0 and b["false_breach_messages"] == 0,
        f"burst: publish -> console p99 <= {TARGET_BURST_P99_MS:,.0f} ms (all recipients)":
            b["all"]["p99_ms"] is not None and b["all"]["p99_ms"] <= TARGET_BURST_P99_MS
            and b["arrived_messages"] == b["expected_messages"],
        f"webhooks: all {w['expected']:,} delivered once, every signature verified, forged one refused":
            w["delivered"] == w["expected"] and w["verified"] == w["expected"] and w["not_verified"] == 0
            and w["forged_request_refused"],
        "panics: every press alerted at its police console":
            s["baseline"]["all"]["alerted"] == s["baseline"]["all"]["pressed"]
            and all(p["ms"] is not None for p in s["presses"]),
    }
    for area, label in (("other_police", "another police area"), ("storm_police", "the storm's own police area")):
        d = s["during"][area]
        out[f"storm: panic in {label}, worst <= no-storm median + {TARGET_STORM_DELAY_MS:g} ms "
            f"(>= {MIN_STORM_PANICS} presses during the storm)"] = (
            d["alerted"] >= MIN_STORM_PANICS and d["alerted"] == d["pressed"]
            and d["max_over_baseline_p50_ms"] is not None and d["max_over_baseline_p50_ms"] <= TARGET_STORM_DELAY_MS)
    return out


# -- output ---------------------------------------------------------------------------------------------
def pf(s: dict[str, Any]) -> str:
    return f"p50 {fmt(s['p50_ms'])}  max {fmt(s['max_ms'])} ms  (n={s['n']})"


def cpu_row(c: dict[str, Any]) -> str:
    return ", ".join(f"{k} {fmt(v, '%')}" for k, v in c.items())


def print_report(res: dict[str, Any]) -> None:
    m, c, b = res["machine"], res["config"], res["burst"]
    rows: list[tuple[str, str, str] | None] = [
        ("machine", f"{m['cpu_model']}, {m['cores']} cores, {m['ram_gib']} GiB; Python {m['python']}; "
                    f"SQLite {m['sqlite']}; {m['mosquitto']}; paho {m['paho_mqtt']}", ""),
        ("setup", f"{c['orders_total']:,} orders imported in {c['import_s']:.1f} s; serve ready in {c['serve_ready_s']:.1f} s; "
                  f"db SQLite; consoles: one raw MQTT 3.1.1 session (QoS 1) per police agency, one for the court", ""),
        None,
        (f"1. burst: {b['orders']:,} breaches at once", f"inside fixes published within {b['burst_publish_span_ms']:.0f} ms; "
         f"{b['arrived_messages']:,} of {b['expected_messages']:,} 'raised' messages arrived", ""),
        ("   publish -> police console", lat_row(b["police"]), ""),
        ("   publish -> court console", lat_row(b["court"]), ""),
        ("   publish -> console, all messages", lat_row(b["all"]), f"p99 <= {TARGET_BURST_P99_MS:,.0f} ms"),
        ("   all messages arrived after", f"{fmt(b['all_arrived_after_ms'], ' ms')} (first after {fmt(b['first_arrival_after_ms'], ' ms')})", ""),
        ("   police: publish -> its batch began ('at')", lat_row(b["police_publish_to_event_at"]), ""),
        ("   police: 'at' -> console (the batch, commit, dispatch, broker)", lat_row(b["police_event_at_to_console"]), ""),
        ("   serve: ingest backlog / outbox pending, max", f"{fmt(b['backlog_max'])} / {fmt(b['outbox_pending_max'])} (0.5 s samples)", ""),
        ("   wrong police / several alert ids / false breaches", f"{b['wrong_police']} / {b['orders_with_several_alert_ids']} / {b['false_breach_messages']}", ""),
        ("   CPU (% of one core)", cpu_row(b["cpu_pct"]), ""),
        None,
        *webhook_rows(res["webhooks"]),
        None,
        *storm_rows(res["storm"]),
        None,
        ("serve log", f"{len(res.get('serve_log', []))} notable lines, "
                      f"{sum('WARNING' in ln or 'ERROR' in ln for ln in res.get('serve_log', []))} warnings/errors", ""),
        ("rows: alerts by kind", str(res.get("db", {}).get("alerts_by_kind", {})), ""),
        ("rows: outbox sent / unsent", f"{fmt(res.get('db', {}).get('outbox_sent'))} / {fmt(res.get('db', {}).get('outbox_unsent'))}", ""),
        ("run time", f"{res['run_s']:.0f} s", ""),
    ]
    print_tables("stayaway alert benchmark", rows, res["targets"], 200, ("measure", "value", "target"))


def webhook_rows(w: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        ("2. webhook leg (channel only)", w["note"], ""),
        ("   delivered / verified / failed attempts", f"{w['delivered']:,} of {w['expected']:,} / {w['verified']:,} "
         f"(not verified {w['not_verified']}) / {w['failed_attempts']}; forged request refused: {fmt(w['forged_request_refused'])}", ""),
        ("   console receipt -> webhook receipt", lat_row(w["console_to_webhook"]), ""),
        ("   breach publish -> webhook receipt", lat_row(w["breach_publish_to_webhook"]), ""),
        ("   all delivered after first console receipt", fmt(w["all_delivered_after_first_console_receipt_ms"], " ms") +
         f" ({w['workers']} sender workers, a new connection per request)", ""),
    ]


def storm_rows(s: dict[str, Any]) -> list[tuple[str, str, str]]:
    d, o, sp = s["during"], s["during"]["other_police"], s["during"]["storm_police"]
    base = s["baseline"]
    return [
        (f"3. storm: {s['status_messages']:,} status msgs from {s['storm_device']}",
         f"published in {fmt(s['flood_publish_s'] * 1000 if s['flood_publish_s'] is not None else None, ' ms')} ({fmt(s['flood_rate_per_s'], '/s')}), broker acked "
         f"{fmt(s['flood_broker_acked'])} after {fmt(s['flood_all_acked_after_s'], ' s')}; serve drained after "
         f"{fmt(s['server_drained_after_s'], ' s')}; last storm alert at a console after {fmt(s['last_storm_message_after_s'], ' s')}", ""),
        ("   storm alert messages at consoles", f"police ({s['storm_police']}) {s['storm_console_messages']['police']:,}, "
         f"court {s['storm_console_messages']['court']:,}: " + ", ".join(
             f"{k} {v:,}" for k, v in sorted(s["storm_console_messages"]["by_kind_event"].items())), ""),
        ("   serve: ingest backlog / outbox pending, max", f"{fmt(s['ingest_backlog_max'])} / {fmt(s['outbox_pending_max'])} "
         f"({POLL_S:g} s polls; slowest /healthz gap {fmt(s['healthz_slowest_gap_s'], ' s')})", ""),
        ("   panics without storm, all", pf(base["all"]), ""),
        (f"     {s['storm_police']} / {s['other_police']}", f"{pf(base['storm_police'])} / {pf(base['other_police'])}", ""),
        ("   panics during storm, all", pf(d["all"]) + f"; {s['panics_during_storm']} of {s['panics_pressed']} presses fell in the "
         f"storm (until its last alert reached a console), the last {fmt(s['last_press_after_s'], ' s')} after it began (it lasted {s['storm_lasted_s']:.1f} s)", ""),
        (f"     other police area ({s['other_police']})", pf(o) + f"; worst - no-storm median {fmt(o['max_over_baseline_p50_ms'], ' ms')}",
         f"<= {TARGET_STORM_DELAY_MS:g} ms"),
        (f"     storm's police area ({s['storm_police']})", pf(sp) + f"; worst - no-storm median {fmt(sp['max_over_baseline_p50_ms'], ' ms')}",
         f"<= {TARGET_STORM_DELAY_MS:g} ms"),
        ("     during storm: publish -> batch ('at') / 'at' -> console", f"{pf(d['all']['publish_to_at'])} / {pf(d['all']['at_to_console'])}", ""),
        ("     no storm: publish -> batch ('at') / 'at' -> console", f"{pf(base['all']['publish_to_at'])} / {pf(base['all']['at_to_console'])}", ""),
        ("   CPU during storm (% of one core)", cpu_row(s["cpu_pct_storm"]), ""),
    ]


# -- the run ------------------------------------------------------------------------------------------------
def run(r: Run) -> None:
    a, tmp, res = r.args, r.tmp, r.results
    started = time.time()
    rng = random.Random(a.seed)
    n_panic = a.baseline_panics + a.storm_panics
    orders, plan = make_orders(rng, a.orders, n_panic)
    db_url = database_url("sqlite", tmp)
    res["config"] = {"orders": a.orders, "storm_status_messages": a.storm, "baseline_panics": a.baseline_panics,
                     "storm_panics_max": a.storm_panics, "panic_every_s": a.panic_every, "storm_panic_every_s": a.storm_panic_every, "webhook_workers": a.webhook_workers,
                     "orders_total": len(orders), "seed": a.seed}
    res["machine"] = machine_info()
    say(f"[1/7] private mosquitto in {tmp}")
    mosq, port = start_mosquitto(r.procs, tmp)

    say(f"[2/7] importing agencies and {len(orders):,} orders")
    res["config"]["import_s"] = import_fixtures(r.procs, tmp, db_url, agencies_geojson(), orders)

    say("[3/7] stayaway serve, consoles, webhook receiver")
    t = time.time()
    serve, http_port = start_serve(r.procs, tmp, port, db_url, len(orders))
    res["config"]["serve_ready_s"] = time.time() - t

    secret = secrets.token_bytes(32)
    rx_port, stop_rx, rx_out = start_receiver(r, secret)
    wanted = {order_id(b["i"]) for b in plan["breach"]}
    leg = WebhookLeg(f"http://{LOOPBACK}:{rx_port}/hooks/stayaway", secret, wanted, a.webhook_workers)
    leg.start()
    police_ids = sorted(police_squares())
    police = {p: AgencyConsole(port, p, [p], hook=leg.hook) for p in police_ids}
    court = AgencyConsole(port, "court", [COURT_ID])
    for c in (*police.values(), court):
        c.start()
    devices = Devices(port)
    sampler = Sampler(serve.pid, mosq.pid, http_port, deadline=time.time() + a.timeout)
    sampler.start()
    ctx = {"devices": devices, "http_port": http_port, "mqtt_port": port, "plan": plan, "police": police, "court": court,
           "leg": leg, "sampler": sampler, "procs": r.procs, "webhook_workers": a.webhook_workers}
    try:
        res["burst"] = burst(ctx, a)
        say("[5/7] webhook leg: waiting for the last deliveries")
        res["webhooks"] = webhook_leg(ctx, a, (rx_port, stop_rx, rx_out))
        res["storm"] = storm(ctx, a)
    finally:
        sampler.stop()
        devices.close()
        for c in (*police.values(), court):
            c.stop()
        leg.sender.stop()
    res["exit_codes"] = r.procs.stop_all()
    res["db"] = {k: v for k, v in db_figures(db_url).items() if not k.startswith("report_")}
    res["serve_log"] = serve_log(tmp)
    res["mosquitto_log"] = mosquitto_log(tmp)
    res["run_s"] = time.time() - started
    res["targets"] = targets(res)


def start_receiver(r: Run, secret: bytes) -> tuple[int, Any, Any]:
    """The webhook receiver's process: (its port, the event that stops it, the queue of its records)."""
    mpx = mp.get_context("spawn")
    port_q, stop_rx, rx_out = mpx.Queue(), mpx.Event(), mpx.Queue()
    rx = mpx.Process(target=receiver_main, args=(secret, port_q, stop_rx, rx_out), name="bench-webhook-rx", daemon=True)
    rx.start()
    r.procs.workers.append(rx)
    try:
        rx_port = port_q.get(timeout=60)
    except queue.Empty:
        raise RuntimeError("the webhook receiver did not start") from None
    return rx_port, stop_rx, rx_out


def webhook_leg(ctx: dict[str, Any], a: argparse.Namespace, receiver: tuple[int, Any, Any]) -> dict[str, Any]:
    """Waits for the last deliveries, sends the forged control request, stops the sender and the receiver."""
    leg, police, n_orders = ctx["leg"], ctx["police"], len(ctx["plan"]["breach"])
    rx_port, stop_rx, rx_out = receiver
    wait_for(lambda: leg.delivered >= n_orders and leg.sender.pending() == 0, a.wait, 0.1)
    forged = forged_request_refused(rx_port)
    leg.sender.stop()
    stop_rx.set()
    records = rx_out.get(timeout=30)
    if isinstance(records, dict):
        raise RuntimeError(f"webhook receiver failed: {records.get('error')}")
    ctx["police_messages_for_webhooks"] = [x for c in police.values() for x in c.messages()]
    return webhook_results(ctx, records, forged, n_orders)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--orders", type=int, default=1000, help="orders whose trackers breach at once")
    p.add_argument("--storm", type=int, default=10_000, help="status messages the faulty tracker floods")
    p.add_argument("--baseline-panics", type=int, default=10, help="panics pressed with no storm")
    p.add_argument("--storm-panics", type=int, default=100, help="at most this many panics during the storm")
    p.add_argument("--panic-every", type=float, default=0.5, help="seconds between panic presses without a storm")
    p.add_argument("--storm-panic-every", type=float, default=0.05, help="seconds between panic presses in the storm")
    p.add_argument("--webhook-workers", type=int, default=4, help="WebhookSender worker threads (its default: 4)")
    p.add_argument("--wait", type=float, default=60.0, help="bound on each wait for alerts, seconds")
    p.add_argument("--seed", type=int, default=20261121)
    p.add_argument("--timeout", type=float, default=600.0, help="overall bound on the run, seconds")
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (database, logs)")
    a = p.parse_args(argv)
    if not (1 <= a.orders <= 20_000 and 1 <= a.storm <= 1_000_000 and 2 <= a.baseline_panics <= 1000
            and 2 <= a.storm_panics <= 1000 and a.panic_every > 0 and a.storm_panic_every > 0 and 1 <= a.webhook_workers <= 64):
        p.error("out of range")
    return a


def main(argv: list[str] | None = None) -> int:
    sys.setswitchinterval(0.0005)  # consoles, the webhook sender and the devices share this process's GIL
    return run_benchmark(parse_args(argv), "stayaway-alerts-bench-", run, print_report)

if __name__ == "__main__":
    sys.exit(main())
