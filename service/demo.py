"""``stayaway demo``: the whole system on embedded defaults, driven by simulators.

The terminal shows alerts as a police console receives them (no coordinates are
printed); the web app's URL is printed. With ``--once`` the scenario runs once
and the exit code says whether every expected alert reached its agency.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from rich.console import Console
from rich.live import Live
from rich.table import Table

from service.adapters.broker import free_port
from service.adapters.db.engine import make_engine, migrate
from service.adapters.mqtt import MqttUrl
from service.adapters.mqtt.url import new_client
from service.bootstrap import Runtime, utc_now
from service.importing import import_agencies, import_orders
from service.settings import Settings
from simulators import SimDevice
from simulators.scenario import demo_ticks

EXPECTED = {
    ("police-xinjin-west", "zone_breach", "raised", "home"), ("court-xinjin", "zone_breach", "raised", "home"),
    ("police-xinjin-west", "panic", "raised", None), ("court-xinjin", "panic", "raised", None),
    ("police-xinjin-west", "zone_breach", "updated", "home"),
    ("police-xinjin-east", "zone_breach", "raised", "work"), ("court-xinjin", "zone_breach", "raised", "work"),
}


class AlertConsole:
    """Subscribes to every agency's alert topic, like the consoles in the precincts."""

    def __init__(self, u: MqttUrl) -> None:
        self.events: list[dict[str, Any]] = []
        self._seen: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._client = new_client("demo-console", "3.1.1", u)  # TLS and the account of the broker URL
        self._client.on_message = self._on_message
        self._subscribed = threading.Event()
        self._client.on_subscribe = lambda *_a: self._subscribed.set()
        self._client.connect(u.host, u.port)
        self._client.loop_start()
        self._client.subscribe("stayaway/v1/agencies/+/alerts", qos=1)
        self._subscribed.wait(10)

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        body = orjson.loads(msg.payload)
        key = (body.get("agency_id", msg.topic), body.get("event_id", ""))
        with self._lock:
            if key not in self._seen:
                self._seen.add(key)
                self.events.append(body)

    def seen(self) -> set[tuple[str, str, str, str | None]]:
        with self._lock:
            return {(e["agency_id"], e["kind"], e["event"], (e.get("zone") or {}).get("zone_id")) for e in self.events}

    def table(self, notes: list[str]) -> Table:
        table = Table(title="Alerts as the agencies receive them", caption=" | ".join(notes[-2:]))
        for col in ("at (UTC)", "agency", "alert", "kind", "sev", "event", "status", "zone", "dist m", "condition", "positions"):
            table.add_column(col)
        with self._lock:
            rows = list(self.events[-25:])
        for e in rows:
            positions = "+".join(p for p, k in (("respondent", "respondent"), ("victim", "victim")) if k in e)
            table.add_row(e["at"][11:19], e["agency_id"], e["alert_id"][:8], e["kind"], e["severity"], e["event"],
                          e["status"], (e.get("zone") or {}).get("zone_id", ""), str(e.get("distance_m", "")),
                          e.get("condition", ""), positions or "-")
        return table

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


DEMO_TOKENS = (("police-west", "police", "police-xinjin-west"), ("court", "court", "court-xinjin"),
               ("supervisor-west", "supervisor", "police-xinjin-west"))
# people who sign in to the web app (password + authenticator code), in this throwaway database only
DEMO_ACCOUNTS = (("officer-west", "police", "police-xinjin-west"), ("judge", "court", "court-xinjin"),
                 ("supervisor-west", "supervisor", "police-xinjin-west"))
DEMO_PASSWORD = "stayaway demo only"

# the kinds this version raises from a scenario's reports (signal_lost, the silence watchdog, is not built yet)
SCENARIO_KINDS = frozenset({"zone_breach", "proximity", "pre_alert", "victim_signal_lost"})


def run_demo(settings: Settings, step_s: float, once: bool, scenario: str | None = None, speedup: float = 1.0) -> int:
    console = Console() if sys.stdout.isatty() else Console(width=150)  # a log file gets the full table
    demo_db = settings.data_path() / "demo.sqlite"
    settings.data_path().mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        demo_db.with_name(demo_db.name + suffix).unlink(missing_ok=True)
    host, port = settings.http_address()
    settings = settings.with_(database_url=f"sqlite:///{demo_db}", http=f"{host}:{free_port(host, port or None)}")
    tokens, accounts = _load_demo_data(settings)
    runtime = Runtime(settings)
    runtime.start()
    try:
        if not runtime.wait_ready(30):
            console.print("[red]the broker session did not come up[/red]")
            return 1
        broker = runtime.mqtt  # its str() masks the password
        if broker is None:
            return 1
        console.print(f"[bold]stayaway demo[/bold]  broker {broker}  web app [link]{runtime.http_url}[/link]")
        console.print("  the API is signed in; this demo's tokens (a throwaway database): "
                      + ", ".join(f"{name} {token}" for name, token in tokens.items()))
        console.print(f"  try: curl -H 'Authorization: Bearer {tokens['police-west']}' {runtime.http_url}/api/v1/alerts")
        console.print(f"  the web app: sign in at {runtime.http_url}/signin with password '{DEMO_PASSWORD}' and the "
                      "code of the account's authenticator secret (add it to any TOTP app, or run "
                      ".venv/bin/python -c \"import pyotp; print(pyotp.TOTP('SECRET').now())\"):")
        for name, secret in accounts.items():
            console.print(f"    {name:<16} secret {secret}")
        alerts = AlertConsole(broker)
        if scenario is None:
            ok = _drive(console, alerts, broker, step_s, once)
        else:
            ok = _drive_scenario(console, alerts, broker, scenario, speedup, once)
        alerts.close()
        console.print(f"web app: {runtime.http_url}")
        return 0 if ok else 1
    finally:
        runtime.stop()


def _load_demo_data(settings: Settings) -> tuple[dict[str, str], dict[str, str]]:
    """The demo's agencies and order in a fresh database, API tokens to try the API with, and the web
    app's accounts (name: TOTP secret)."""
    from service.auth import Auth

    engine = make_engine(settings.effective_database_url())
    migrate(engine)
    data = resources.files("simulators") / "data"
    import_agencies(engine, orjson.loads((data / "demo_agencies.geojson").read_bytes()), utc_now)
    import_orders(engine, [(orjson.loads((data / "demo_order.json").read_bytes()), "demo_order.json")], utc_now)
    auth = Auth(engine, utc_now)
    tokens = {name: auth.create_token(f"demo-{name}", role, agency, by="demo")
              for name, role, agency in DEMO_TOKENS}
    accounts = {name: auth.create_account(name, DEMO_PASSWORD, role, agency, by="demo").totp_secret
                for name, role, agency in DEMO_ACCOUNTS}
    engine.dispose()
    return tokens, accounts


@contextmanager
def _demo_devices(u: MqttUrl) -> Iterator[tuple[SimDevice, SimDevice]]:
    """The demo order's tracker and phone, connected (with TLS for an mqtts:// broker); closed however the run ends."""
    first_seq = int(datetime.now(UTC).timestamp())  # a new run's seqs are never repeats of the last run's
    tls = {"tls": u.tls, "ca_file": u.ca_file, "cert_file": u.cert_file, "key_file": u.key_file}
    tracker = SimDevice("trk-001", u.host, u.port, first_seq, **tls).connect()
    phone = SimDevice("phone-001", u.host, u.port, first_seq, **tls).connect()
    try:
        yield tracker, phone
    finally:
        tracker.close()
        phone.close()


def _drive_scenario(console: Console, alerts: AlertConsole, url: MqttUrl, name: str, speedup: float,
                    once: bool) -> bool:
    """One scenario of the library (``simulators.scenarios``), checked against its own ground truth."""
    from simulators.scenarios import SCENARIOS, run_scenario

    scenario = SCENARIOS[name]()
    notes = [f"scenario {scenario.name}: {scenario.description}"]
    expected = {(e.kind, e.zone_id, e.retroactive) for e in scenario.expected if e.kind in SCENARIO_KINDS}

    def seen() -> set[tuple[str, str | None, bool]]:
        with alerts._lock:
            return {(e["kind"], (e.get("zone") or {}).get("zone_id"), bool(e.get("retroactive")))
                    for e in alerts.events if e["agency_id"] == "court-xinjin" and e["event"] == "raised"}

    with _demo_devices(url) as (tracker, phone):
        try:
            with Live(alerts.table(notes), console=console, refresh_per_second=4, transient=False) as live:
                def sent(item: Any) -> None:
                    if item.note:
                        notes.append(item.note)
                    live.update(alerts.table(notes))

                run_scenario(scenario, tracker, phone, speedup=speedup, on_send=sent)
                deadline = time.monotonic() + 15
                while not expected <= seen() and time.monotonic() < deadline:
                    time.sleep(0.2)
                    live.update(alerts.table(notes))
                notes.append("scenario complete")
                live.update(alerts.table(notes))
        except KeyboardInterrupt:
            pass
    missing = expected - seen()
    if missing:
        console.print(f"[red]expected alerts not seen: {sorted(missing, key=str)}[/red]")
    return not missing


def _drive(console: Console, alerts: AlertConsole, url: MqttUrl, step_s: float, once: bool) -> bool:
    notes: list[str] = []
    with _demo_devices(url) as (tracker, phone):
        try:
            with Live(alerts.table(notes), console=console, refresh_per_second=4, transient=False) as live:
                last_tracker = None
                for tick in demo_ticks():
                    if tick.note:
                        notes.append(tick.note)
                    if tick.phone:
                        phone.location(*tick.phone, acc=8.0, src="gps")
                    if tick.panic:
                        phone.panic(*tick.phone, acc=8.0) if tick.phone else phone.panic()
                    if tick.tracker:
                        last_tracker = tick.tracker
                        tracker.location(*tick.tracker, acc=6.0, src="gps")
                    time.sleep(step_s)
                    live.update(alerts.table(notes))
                deadline = time.monotonic() + 15
                while once and not EXPECTED <= alerts.seen() and time.monotonic() < deadline:
                    time.sleep(0.2)
                    live.update(alerts.table(notes))
                notes.append("scenario complete" + ("" if once else "; reporting on, Ctrl-C to stop"))
                live.update(alerts.table(notes))
                while not once and last_tracker:
                    time.sleep(max(step_s, 1.0) * 5)
                    tracker.location(*last_tracker, acc=6.0)
                    live.update(alerts.table(notes))
        except KeyboardInterrupt:
            pass
    kinds = sorted({(e["kind"], e["event"]) for e in alerts.events})
    console.print("alert events received: " + ", ".join(f"{k} {ev}" for k, ev in kinds))
    missing = EXPECTED - alerts.seen()
    if once and missing:
        console.print(f"[red]missing alerts: {sorted(missing, key=str)}[/red]")
    return not missing
