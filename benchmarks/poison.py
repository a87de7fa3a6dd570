"""Poison flood benchmark (issue 12, finding 4): another order's breach queued behind 4,000 messages dated
at the ends of the calendar on one respondent's own topics.

    .venv/bin/python benchmarks/poison.py [--orders 1000] [--flood 4000] [--rounds 3] [--json FILE] [--keep]

Against a private Mosquitto (deploy/mosquitto.conf) and ``stayaway serve`` on SQLite, set up with
the shared harness (benchmarks/harness: processes, consoles, devices) and benchmarks/alerts.py's orders:
``--orders`` orders whose trackers can breach, and one more whose tracker is the poisoner.

  1. every measured tracker sends a fix 20 m outside its home circle, and the poisoner a valid fix 3 km
     from its own home; once processed:
  2. baseline: ``--baseline`` trackers, one at a time, step ~100 m into their home circle; measured:
     the inside fix's publish -> the ``zone_breach`` ``raised`` message at that order's police console;
  3. flood: ``--rounds`` times, the poisoner publishes ``--flood`` messages back to back on its own
     location and status topics, dated ``0001-01-01T00:00:00+00:01`` and ``9999-12-31T23:59:59-00:01``
     in turn, and right behind them, on the same connection (so the broker delivers it after them),
     another order's tracker steps into its home. Measured the same way; and when serve had handled the
     whole round (its /healthz counters ``messages`` and ``rejected.internal_error``).

Targets: the worst breach behind a flood reaches its police console no more than 1 s later than the
median breach without one; every flood message is kept as a ``ts_invalid`` rejection, none as
``internal_error``, and no batch failed (serve's counters ``batch_failures``). Before issue 12 each
of these messages failed its batch and cost a state reload.

``--kind amplify`` (attack review F3) floods with backfill arrays instead: each ~240 KB message holds
1,000 elements whose latitude is out of range (1,000 rejections per message; before the fix each of
them stored the whole payload); the report adds how much the database grew over the floods.

    .venv/bin/python benchmarks/poison.py --kind amplify --flood 20 [--orders 1000]

Exit status: 0 when every target was met, 1 when one was missed, 2 when the harness failed.
Only loopback addresses are used; every wait is bounded and ``--timeout`` bounds the run.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
_HERE = Path(__file__).resolve().parent
# As in alerts.py: run as a script, this directory would come first on sys.path (and alerts.py there would
# shadow the ``alerts`` package); put the repository first and import the harness as ``benchmarks.*``.
sys.path[:] = [p for p in sys.path if Path(p or os.getcwd()).resolve() != _HERE]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import alerts as ab
from benchmarks.harness.database import database_url
from benchmarks.harness.fixtures import agencies_geojson, order_id, police_squares
from benchmarks.harness.processes import (
    healthz,
    import_fixtures,
    serve_log,
    start_mosquitto,
    start_serve,
    wait_for,
)
from benchmarks.harness.raw_mqtt import AgencyConsole, Devices, first_raised
from benchmarks.harness.report import fmt, pct, print_tables, say
from benchmarks.harness.runner import Run, run_benchmark
from benchmarks.harness.sampling import machine_info

CALENDAR_ENDS = ("0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01")
TARGET_DELAY_MS = 1000.0
POISON_SEQ0 = 1_000_000


AMPLIFY_ELEMENTS = 1000


def amplifying(seq0: int) -> str:
    """A backfill array of 1,000 elements, each rejected (latitude out of range), ~240 KB in all."""
    pad = "p" * 170
    return "[" + ",".join(f'{{"seq":{seq0 + i},"ts":"2026-12-02T08:00:00Z","lat":91.0,"lon":103.86,"acc":5.0,'
                          f'"pad":"{pad}"}}' for i in range(AMPLIFY_ELEMENTS)) + "]"


def flood_and_breach(devices: Devices, poisoner: str, n: int, seq0: int, breacher: str,
                     inside: tuple[float, float], kind: str = "calendar") -> tuple[float, float]:
    """``n`` calendar-end (or amplifying) messages from ``poisoner``, then ``breacher``'s inside fix, on one
    connection. Returns (first flood publish, breach publish)."""
    pub = devices.pub
    t0 = time.time()
    if kind == "amplify":
        for k in range(n):
            pub.publish(f"stayaway/v1/devices/{poisoner}/location", amplifying(seq0 + k * AMPLIFY_ELEMENTS))
            pub.flush()
        devices.sent += n
        return t0, devices.fix(breacher, inside)
    for k in range(n):
        channel = "location" if k % 4 < 2 else "status"
        body = ('"lat":30.4310123,"lon":103.8615456,"acc":5.0' if channel == "location" else '"strap":"closed"')
        pub.publish(f"stayaway/v1/devices/{poisoner}/{channel}",
                    f'{{"seq":{seq0 + k},"ts":"{CALENDAR_ENDS[k % 2]}",{body}}}')
        if k % 200 == 199:
            pub.flush()
    devices.sent += n
    return t0, devices.fix(breacher, inside)  # flushes the rest of the flood first, then the fix


def police_arrival(police: dict[str, AgencyConsole], agency: str, order_id: str, timeout_s: float) -> tuple[float, dict] | None:
    console = police[agency]
    hit: list[tuple[float, dict]] = []

    def arrived() -> bool:
        got = first_raised([console], "zone_breach").get((order_id, agency))
        if got is not None:
            hit.append(got)
        return got is not None

    wait_for(arrived, timeout_s, 0.01)
    return hit[0] if hit else None


def counters(http_port: int) -> dict[str, int]:
    return healthz(http_port)[1].get("counters", {})


def handled(http_port: int) -> int:
    """Messages serve has done with: committed in a batch, or stored on their own as ``internal_error``
    (which the code before issue 12 did not count in ``messages``)."""
    c = counters(http_port)
    return c.get("messages", 0) + c.get("rejected.internal_error", 0)


def quiet(http_port: int, sent: int) -> bool:
    """serve has handled ``sent`` messages, holds none, and the broker acknowledged every alert."""
    code, body = healthz(http_port)
    c = body.get("counters", {})
    return (code == 200 and c.get("messages", 0) + c.get("rejected.internal_error", 0) >= sent
            and body.get("ingest_backlog") == 0 and body.get("outbox_pending") == 0)


def db_bytes(tmp: Path) -> int:
    return sum(f.stat().st_size for f in tmp.glob("bench.sqlite*"))


def run(r: Run) -> None:
    a, tmp, res = r.args, r.tmp, r.results
    started = time.time()
    rng = random.Random(a.seed)
    orders, plan = ab.make_orders(rng, a.orders, 0)
    measured = plan["breach"][:a.baseline + a.rounds]
    poisoner = f"trk-{plan['storm']['i']:05d}"
    db_url = database_url("sqlite", tmp)
    res["config"] = {"kind": a.kind, "orders": len(orders), "flood": a.flood, "rounds": a.rounds, "baseline": a.baseline,
                     "seed": a.seed, "poisoner": poisoner, "calendar_ends": list(CALENDAR_ENDS)}
    res["machine"] = machine_info()
    say(f"[1/5] private mosquitto in {tmp}")
    _mosq, port = start_mosquitto(r.procs, tmp)
    say(f"[2/5] importing agencies and {len(orders):,} orders")
    import_fixtures(r.procs, tmp, db_url, agencies_geojson(), orders)
    say("[3/5] stayaway serve and the police consoles")
    _serve, http_port = start_serve(r.procs, tmp, port, db_url, len(orders))
    police = {p: AgencyConsole(port, p, [p]) for p in sorted(police_squares())}
    for c in police.values():
        c.start()
    devices = Devices(port)
    try:
        for b in measured:
            devices.fix(f"trk-{b['i']:05d}", b["outside"])
        devices.fix(poisoner, plan["storm"]["fix"])
        if not devices.all_acked() or not wait_for(lambda: quiet(http_port, devices.sent), 60, 0.1):
            raise RuntimeError("serve did not process the outside fixes")
        time.sleep(ab.MIN_STEP_S)  # the step inside stays under the service's jump check
        baseline = baseline_breaches(a, measured[:a.baseline], police, devices, http_port)
        before = counters(http_port)
        db_before = db_bytes(tmp)
        rounds = flood_rounds(a, measured[a.baseline:], poisoner, police, devices, http_port)
        after = counters(http_port)
        res["db_growth_mb"] = (db_bytes(tmp) - db_before) / 1e6
    finally:
        devices.close()
        for c in police.values():
            c.stop()
    res["exit_codes"] = r.procs.stop_all()
    base_ms = [x["ms"] for x in baseline if x["ms"] is not None]
    flood_ms = [x["ms"] for x in rounds if x["ms"] is not None]
    base_p50 = pct(base_ms, 50)
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in set(after) | set(before)
             if k.startswith(("rejected.", "batch_failures", "messages", "batches"))}
    res["baseline"] = {"breaches": baseline, "p50_ms": base_p50}
    res["rounds"] = rounds
    res["worst_ms"] = max(flood_ms) if flood_ms else None
    res["worst_over_baseline_p50_ms"] = (res["worst_ms"] - base_p50) if flood_ms and base_p50 is not None else None
    res["serve_counters_during_floods"] = delta
    res["serve_log"] = serve_log(tmp, 20)
    res["run_s"] = time.time() - started
    res["targets"] = targets(a, res, len(base_ms), len(flood_ms))


def baseline_breaches(a: argparse.Namespace, group: list[dict[str, Any]], police: dict[str, AgencyConsole],
                      devices: Devices, http_port: int) -> list[dict[str, Any]]:
    say(f"[4/5] baseline: {a.baseline} breaches, one at a time, no flood")
    baseline = []
    for b in group:
        oid = order_id(b["i"])
        t = devices.fix(f"trk-{b['i']:05d}", b["inside"])
        got = police_arrival(police, b["police"], oid, a.wait)
        baseline.append({"order_id": oid, "ms": None if got is None else (got[0] - t) * 1000})
        wait_for(lambda: quiet(http_port, devices.sent), 30, 0.05)
    return baseline


def flood_rounds(a: argparse.Namespace, group: list[dict[str, Any]], poisoner: str, police: dict[str, AgencyConsole],
                 devices: Devices, http_port: int) -> list[dict[str, Any]]:
    say(f"[5/5] {a.rounds} rounds: {a.flood:,} calendar-end messages from {poisoner}, then another order's breach")
    rounds = []
    for k, b in enumerate(group):
        oid = order_id(b["i"])
        processed = handled(http_port)
        t0, t = flood_and_breach(devices, poisoner, a.flood, POISON_SEQ0 + k * a.flood * AMPLIFY_ELEMENTS,
                                 f"trk-{b['i']:05d}", b["inside"], a.kind)
        got = police_arrival(police, b["police"], oid, a.wait)
        drained = wait_for(lambda done=processed + a.flood + 1: handled(http_port) >= done, a.wait, 0.05)
        t_drained = time.time()
        rounds.append({"order_id": oid, "ms": None if got is None else (got[0] - t) * 1000,
                       "flood_publish_ms": (t - t0) * 1000,
                       "handled_after_s": (t_drained - t0) if drained else None})
        say(f"      round {k + 1}: breach at the console after "
            f"{fmt(rounds[-1]['ms'], ' ms')}; round handled after {fmt(rounds[-1]['handled_after_s'], ' s')}")
        wait_for(lambda: quiet(http_port, devices.sent), a.wait, 0.05)
    return rounds


def targets(a: argparse.Namespace, res: dict[str, Any], n_base: int, n_flood: int) -> dict[str, bool]:
    """``n_base`` / ``n_flood``: the breaches that arrived without / behind a flood."""
    n_bad = a.flood * a.rounds
    delta = res["serve_counters_during_floods"]
    if a.kind == "amplify":
        return {
            f"every breach behind a flood arrived, the worst <= no-flood median + {TARGET_DELAY_MS:g} ms":
                n_flood == a.rounds and res["worst_over_baseline_p50_ms"] is not None
                and res["worst_over_baseline_p50_ms"] <= TARGET_DELAY_MS,
            f"all {n_bad * AMPLIFY_ELEMENTS:,} bad elements kept as out_of_range rejections, no failed batch":
                delta.get("rejected.out_of_range", 0) == n_bad * AMPLIFY_ELEMENTS and delta.get("batch_failures", 0) == 0,
            "the database grew by at most 3 x the bytes of the floods (each element kept once, plus its row)":
                res["db_growth_mb"] <= 3 * n_bad * 0.245,
        }
    return {
        f"every breach behind a flood arrived, the worst <= no-flood median + {TARGET_DELAY_MS:g} ms":
            n_flood == a.rounds and n_base == a.baseline and res["worst_over_baseline_p50_ms"] is not None
            and res["worst_over_baseline_p50_ms"] <= TARGET_DELAY_MS,
        f"all {n_bad:,} flood messages kept as ts_invalid, none as internal_error, no failed batch":
            delta.get("rejected.ts_invalid", 0) == n_bad and delta.get("rejected.internal_error", 0) == 0
            and delta.get("batch_failures", 0) == 0,
    }


def print_report(res: dict[str, Any]) -> None:
    m, c = res["machine"], res["config"]
    rows: list[tuple[str, str] | None] = [
        ("machine", (f"{m['cpu_model']}, {m['cores']} cores, {m['ram_gib']} GiB; Python {m['python']}; "
                     f"SQLite {m['sqlite']}; {m['mosquitto']}")),
        ("setup", (f"{c['orders']:,} orders; poisoner {c['poisoner']}; floods of {c['flood']:,} "
                   + ("~240 KB arrays of 1,000 bad elements on its location topic" if c.get("kind") == "amplify" else
                      f"messages dated {' / '.join(c['calendar_ends'])} on its location and status topics"))),
        None,
        ("breach, no flood: publish -> police console", ", ".join(fmt(x["ms"], " ms") for x in res["baseline"]["breaches"])
         + f" (median {fmt(res['baseline']['p50_ms'], ' ms')})"),
    ]
    for k, x in enumerate(res["rounds"]):
        rows.append((f"round {k + 1}: breach behind the flood", (
            f"{fmt(x['ms'], ' ms')} (flood published in {x['flood_publish_ms']:.0f} ms; "
            f"round handled after {fmt(x['handled_after_s'], ' s')})")))
    rows += [
        ("worst behind a flood - no-flood median", fmt(res["worst_over_baseline_p50_ms"], " ms")),
        ("serve's counters over the floods", ", ".join(f"{k} {v:,}" for k, v in sorted(res["serve_counters_during_floods"].items()))),
        ("database growth over the floods", f"{res.get('db_growth_mb', 0):.1f} MB"),
        ("run time", f"{res['run_s']:.0f} s"),
    ]
    print_tables("stayaway poison flood benchmark", rows, res["targets"], 200)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--orders", type=int, default=1000, help="orders whose trackers can breach (a state reload loads them all)")
    p.add_argument("--flood", type=int, default=4000, help="calendar-end (or amplifying) messages in each flood")
    p.add_argument("--kind", choices=["calendar", "amplify"], default="calendar",
                   help="calendar-end times (finding 4), or ~240 KB arrays of 1,000 bad elements (review F3)")
    p.add_argument("--rounds", type=int, default=3, help="floods, each with another order's breach behind it")
    p.add_argument("--baseline", type=int, default=5, help="breaches measured without a flood")
    p.add_argument("--wait", type=float, default=180.0, help="bound on each wait for an alert or a drain, seconds")
    p.add_argument("--seed", type=int, default=20261121)
    p.add_argument("--timeout", type=float, default=1800.0, help="overall bound on the run, seconds")
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (database, logs)")
    a = p.parse_args(argv)
    if not (1 <= a.rounds and 1 <= a.baseline and a.rounds + a.baseline <= a.orders <= 20_000 and 1 <= a.flood <= 100_000):
        p.error("out of range")
    return a


def main(argv: list[str] | None = None) -> int:
    return run_benchmark(parse_args(argv), "stayaway-poison-bench-", run, print_report)


if __name__ == "__main__":
    sys.exit(main())
