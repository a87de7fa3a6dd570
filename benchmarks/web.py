"""Web app benchmark: how fast the officers' pages answer on a realistic database.

    .venv/bin/python benchmarks/web.py [--orders 500] [--breaches 300] [--days 31] [--requests 30] [--db URL] [--json FILE]

Set-up (not timed): the harness's agencies (benchmarks/harness/fixtures.py: a 2 x 2 grid of police squares and a court) and
``--orders`` orders, imported as the CLI does; ``--breaches`` of them breached through the real pipeline
(a fix outside the home circle, then one inside: one open alert each); and, for order 0, ``--days`` days of
the respondent's fixes every 30 s and the victim's every 60 s, written as ingest writes them. The web app
is ``create_app`` in werkzeug's threaded server, as ``serve`` runs it; requests go over loopback with the
signed-in session cookie, one after the other (latency), then from 8 threads at once (throughput).

Measured per page: p50 / p99 / max latency, response size, and the process's peak RSS. The order page is
measured as opened (her places and track hidden) and with a break-glass reason (POSTed as the page's
form does: her track, the zones and the distance chart computed and drawn). No target is
enforced (issue 6 sets none): the figures go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psutil
import pyotp
import sqlalchemy as sa
from argon2 import PasswordHasher
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from werkzeug.serving import make_server

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness.fixtures import agencies_geojson, offset, order_id  # noqa: E402
from benchmarks.harness.processes import LOOPBACK  # noqa: E402
from benchmarks.ingest import make_plan, orders_json  # noqa: E402
from geofence import FrameCache  # noqa: E402
from service.adapters.db import schema as t  # noqa: E402
from service.adapters.db.engine import make_engine, migrate  # noqa: E402
from service.auth import Auth  # noqa: E402
from service.domain.directory import Directory
from service.domain.monitoring import Monitor  # noqa: E402
from service.importing import import_agencies, import_orders  # noqa: E402
from service.order_admin import OrderAdmin  # noqa: E402
from service.pipeline import Pipeline  # noqa: E402
from service.state import rebuild  # noqa: E402
from service.web import WebDeps, create_app  # noqa: E402
from service.wire import Inbound  # noqa: E402
from service.wire.rfc3339 import format_ts  # noqa: E402

PASSWORD = "benchmark password"
logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request


def build(url: str, orders: int, breaches: int, days: int) -> tuple[Any, dict[str, str], datetime]:
    engine = make_engine(url)
    migrate(engine)
    now = datetime.now(UTC).replace(microsecond=0)
    clock = lambda: now  # noqa: E731
    plan = make_plan(orders, rate=orders / 30, duration=60, breach_fraction=0.0, panics=0, seed=6)
    import_agencies(engine, agencies_geojson(), clock)
    bodies = orders_json(plan)
    issued = now - timedelta(days=days + 1)  # order 0 stands for its whole history, within 6 months (ADVL Art. 30)
    bodies[0]["issued_at"], bodies[0]["expires_at"] = format_ts(issued), format_ts(issued + timedelta(days=180))
    import_orders(engine, [(o, "bench.json") for o in bodies], clock)
    monitor = Monitor(FrameCache(), Directory([]), iter(f"alert-{i:06d}" for i in range(10**6)).__next__)
    with engine.begin() as conn:
        rebuild(monitor, conn, now=now)
    pipeline = Pipeline(engine, monitor, clock, 256 * 1024)
    msgs = []
    for i in range(breaches):  # 400 m out, then 100 m in: one zone_breach each
        hlat, hlon = plan.home[i]
        for seq, (north, dt) in enumerate(((700.0, 20), (200.0, 10)), start=1):
            lat, lon = offset(hlat, hlon, 0.0, north)
            body = {"seq": seq, "ts": format_ts(now - timedelta(seconds=dt)), "lat": lat, "lon": lon, "acc": 5.0}
            msgs.append(Inbound(f"stayaway/v1/devices/trk-{i:05d}/location", orjson.dumps(body), now))
    for k in range(0, len(msgs), 500):
        pipeline.process(msgs[k:k + 500])
    with engine.connect() as conn:
        open_alerts = conn.execute(sa.select(sa.func.count()).select_from(t.alerts)).scalar()
    # order 0's long history, as ingest stores it (the pipeline would take minutes for this many)
    hlat, hlon = plan.home[0]
    rows = []
    for device, every, north0 in (("trk-00000", 30, 2000.0), ("phone-00000", 60, 0.0)):
        n = days * 86400 // every
        for k in range(n):
            ts = now - timedelta(seconds=every * (n - k))
            lat, lon = offset(hlat, hlon, 300.0 * ((k % 97) / 97 - 0.5), north0 + 800.0 * ((k % 181) / 181 - 0.5))
            raw = orjson.dumps({"seq": 10_000 + k, "ts": format_ts(ts), "lat": lat, "lon": lon, "acc": 8.0})
            rows.append({"device_id": device, "seq": 10_000 + k, "device_ts": ts, "received_at": ts, "processed_at": ts,
                         "lat": lat, "lon": lon, "acc_m": 8.0, "flags": "", "raw": raw})
    with engine.begin() as conn:
        for k in range(0, len(rows), 5000):
            conn.execute(sa.insert(t.location_reports), rows[k:k + 5000])
    auth = Auth(engine, lambda: datetime.now(UTC), PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1))
    cookies = {}
    for name, role, agency in (("judge", "court", "court-bench"), ("officer", "police", "police-r1c1"),
                               ("root", "admin", None)):
        secret = auth.create_account(name, PASSWORD, role, agency).totp_secret
        cookies[name] = auth.sign_in(name, PASSWORD, pyotp.TOTP(secret).now(), None)
    print(f"database: {orders} orders, {open_alerts} open alerts, order 0 with {len(rows):,} reports over {days} days",
          flush=True)
    return engine, cookies, now


def get(port: int, path: str, cookie: str, form: dict[str, str] | None = None) -> tuple[int, int, float]:
    """GET ``path``, or POST ``form`` to it (the page's own form, with its CSRF field)."""
    from urllib.parse import urlencode

    from service.web.security import csrf_token

    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=120)
    headers = {"Cookie": f"stayaway_session={cookie}", "Accept-Language": "zh-CN"}
    body = None
    if form is not None:
        body = urlencode({**form, "csrf": csrf_token(cookie)})
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    t0 = time.perf_counter()
    conn.request("GET" if form is None else "POST", path, body=body, headers=headers)
    r = conn.getresponse()
    body = r.read()
    elapsed = time.perf_counter() - t0
    conn.close()
    return r.status, len(body), elapsed


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, -(-len(ordered) * q // 100) - 1))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--orders", type=int, default=500)
    ap.add_argument("--breaches", type=int, default=300)
    ap.add_argument("--days", type=int, default=31)
    ap.add_argument("--requests", type=int, default=30)
    ap.add_argument("--db", help="SQLAlchemy URL of an EMPTY database (default: a new SQLite file)")
    ap.add_argument("--json", help="write the figures here too")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{Path(tmp) / 'web.sqlite'}"
        engine, cookies, now = build(url, args.orders, args.breaches, args.days)
        reader = make_engine(url, writer=False)
        auth = Auth(engine, lambda: datetime.now(UTC))
        app = create_app(WebDeps(reader, lambda: {"ready": True, "counters": {}}, None, auth,
                                 OrderAdmin(engine, lambda: datetime.now(UTC)), Ed25519PrivateKey.generate()))
        server = make_server(LOOPBACK, 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.server_port
        proc = psutil.Process()
        peak = proc.memory_info().rss
        results, peak = measure_pages(port, cookies, pages(now, args.days), args.requests, proc, peak)
        throughput = board_throughput(port, cookies, args.requests * 8)
        peak = max(peak, proc.memory_info().rss)
        print(f"board from 8 threads: {throughput['per_s']} requests/s, p50 {throughput['p50_ms']} ms, "
              f"p99 {throughput['p99_ms']} ms")
        print(f"peak RSS of the process (app, database set-up and client): {peak / 2**20:.0f} MiB")
        server.shutdown()
        reader.dispose()
        engine.dispose()
        if args.json:
            Path(args.json).write_text(json.dumps({"pages": results, "board_8_threads": throughput,
                                                   "peak_rss_mib": round(peak / 2**20)}, indent=2))
    return 0


def pages(now: datetime, days: int) -> list[tuple[str, str, str, dict[str, str] | None]]:
    """(name, path, who, form or None) of each page measured."""
    o0 = order_id(0)
    day = f"from={format_ts(now - timedelta(hours=24))}&to={format_ts(now)}"
    month = f"from={format_ts(now - timedelta(days=days))}&to={format_ts(now)}"
    reason = {"reason": "benchmark: a hearing's review of the case"}
    return [
        ("board (court: every open alert)", "/board", "judge", None),
        ("board (one police square)", "/board", "officer", None),
        ("orders list", "/orders", "judge", None),
        ("order page, 24 h window", f"/orders/{o0}?{day}", "judge", None),
        ("order page, 24 h, with a reason", f"/orders/{o0}",
         "judge", {**reason, "from": format_ts(now - timedelta(hours=24)), "to": format_ts(now)}),
        (f"order page, {days} d window", f"/orders/{o0}?{month}", "judge", None),
        (f"order page, {days} d, with a reason", f"/orders/{o0}",
         "judge", {**reason, "from": format_ts(now - timedelta(days=days)), "to": format_ts(now)}),
        ("timeline API, 24 h", f"/api/v1/orders/{o0}/timeline?{day}", "judge", None),
        ("accountability (admin, 7 d)", "/accountability", "root", None),
        ("GET /api/v1/alerts (court)", "/api/v1/alerts?status=open&limit=500", "judge", None),
    ]


def measure_pages(port: int, cookies: dict[str, str], todo: list[tuple[str, str, str, dict[str, str] | None]],
                  requests: int, proc: psutil.Process, peak: int) -> tuple[list[dict[str, Any]], int]:
    """Each page three times unmeasured, then ``requests`` times one after the other; with the peak RSS."""
    results = []
    for name, path, who, form in todo:
        for _ in range(3):
            status, size, _ = get(port, path, cookies[who], form)
            assert status == 200, (name, status)
        times = []
        for _ in range(requests):
            _, size, elapsed = get(port, path, cookies[who], form)
            times.append(elapsed * 1000)
            peak = max(peak, proc.memory_info().rss)
        results.append({"page": name, "p50_ms": round(statistics.median(times), 1),
                        "p99_ms": round(pct(times, 99), 1), "max_ms": round(max(times), 1), "bytes": size})
        print(f"{name:<36} p50 {results[-1]['p50_ms']:>8.1f} ms  p99 {results[-1]['p99_ms']:>8.1f} ms  "
              f"max {results[-1]['max_ms']:>8.1f} ms  {size / 1024:>8.1f} KiB", flush=True)
    return results, peak


def board_throughput(port: int, cookies: dict[str, str], n: int) -> dict[str, Any]:
    """The board, 8 officers' browsers at once: ``n`` requests."""
    t0 = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        done = list(pool.map(lambda _: get(port, "/board", cookies["officer"]), range(n)))
    wall = time.perf_counter() - t0
    assert all(s == 200 for s, _, _ in done)
    lat = [e * 1000 for _, _, e in done]
    return {"requests": n, "per_s": round(n / wall, 1), "p50_ms": round(statistics.median(lat), 1),
            "p99_ms": round(pct(lat, 99), 1)}


if __name__ == "__main__":
    raise SystemExit(main())
