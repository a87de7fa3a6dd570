"""The processes a benchmark starts: a private Mosquitto, ``stayaway`` CLI commands and ``stayaway serve``,
on free loopback ports, each stopped with SIGTERM, a bounded wait, then SIGKILL."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
VENV_BIN = Path(sys.executable).parent
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
LOOPBACK = "127.0.0.1"


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
        raise RuntimeError(f"mosquitto did not start: {tail(tmp / 'mosquitto.stdout')} {tail(tmp / 'mosquitto' / 'mosquitto.log')}")
    return proc, port


def mosquitto_version() -> str:
    ver = subprocess.run([MOSQUITTO, "-h"], capture_output=True, text=True, timeout=10).stdout.splitlines()
    return ver[0] if ver else "unknown"


def tail(path: Path, n: int = 2000) -> str:
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


def serve_log(tmp: Path, limit: int = 60) -> list[str]:
    """serve's log lines besides the web server's access lines."""
    return notable_lines(tmp / "serve.stderr", lambda ln: "werkzeug" not in ln, limit)


def mosquitto_log(tmp: Path) -> list[str]:
    """Mosquitto's log lines besides its new connections."""
    return notable_lines(tmp / "mosquitto" / "mosquitto.log",
                         lambda ln: "New connection" not in ln and "New client" not in ln)


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


def import_fixtures(procs: Procs, tmp: Path, db_url: str, agencies: Any, orders: Any) -> float:
    """``agencies`` and ``orders`` written to the temp dir and imported with ``stayaway agencies|orders import``;
    returns the seconds the imports took."""
    (tmp / "agencies.geojson").write_text(json.dumps(agencies))
    (tmp / "orders.json").write_text(json.dumps(orders))
    t = time.time()
    run_cli(procs, tmp, ["agencies", "import", str(tmp / "agencies.geojson"), "--db", db_url], 120)
    run_cli(procs, tmp, ["orders", "import", str(tmp / "orders.json"), "--db", db_url], 600)
    return time.time() - t


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
        raise RuntimeError(f"stayaway serve did not become ready: {tail(tmp / 'serve.stderr')}")
    if "stayaway serving:" not in tail(tmp / "serve.stderr", 100_000):
        raise RuntimeError("serve is healthy but never printed its 'stayaway serving:' line")
    return proc, http_port
