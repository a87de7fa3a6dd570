"""A real MQTT broker for tests: STAYAWAY_TEST_MQTT_URL, else a private Mosquitto, else the embedded broker."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class BrokerInfo:
    url: str
    host: str
    port: int
    kind: str  # "external", "mosquitto" or "embedded"
    protocol: str  # what stayaway should speak to it: "5" or "3.1.1"

    @property
    def persistent_sessions(self) -> bool:
        return self.kind != "embedded"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port}")


class PrivateMosquitto:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="stayaway-mosq-"))
        self.port = free_port()
        conf = self.dir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            f"set_tcp_nodelay true\nmax_queued_messages 100000\nlog_dest file {self.dir / 'mosquitto.log'}\n"
        )
        self.proc = subprocess.Popen([shutil.which("mosquitto") or "mosquitto", "-c", str(conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_listening("127.0.0.1", self.port)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def start_broker() -> tuple[BrokerInfo, object | None]:
    """The broker and a handle with ``stop()`` (None for an external one)."""
    external = os.environ.get("STAYAWAY_TEST_MQTT_URL")
    if external:
        from service.adapters.mqtt import parse_mqtt_url

        u = parse_mqtt_url(external)
        if not u.host.startswith("127.") and u.host not in ("localhost", "::1"):
            raise RuntimeError("tests only ever talk to loopback brokers")
        wait_listening(u.host, u.port)
        return BrokerInfo(external, u.host, u.port, "external", "5"), None
    if shutil.which("mosquitto"):
        m = PrivateMosquitto()
        return BrokerInfo(f"mqtt://127.0.0.1:{m.port}", "127.0.0.1", m.port, "mosquitto", "5"), m
    from service.adapters.broker import EmbeddedBroker

    b = EmbeddedBroker()
    b.start()
    return BrokerInfo(b.url, b.host, b.port, "embedded", "3.1.1"), b


DEPLOY_CONF = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto.conf"


class KitMosquitto:
    """deploy/mosquitto.conf itself on a real Mosquitto: each of its listeners on a free loopback port, its
    /etc/mosquitto/stayaway/ files (passwd, acl) and /etc/mosquitto/certs/ files (server.crt, server.key,
    clients-ca.crt) taken from the directories given, persistence off. ``ports`` maps the file's port
    (1883, 8883, 8884) to the one used here. Fails if the file has a listener or a path this does not know."""

    def __init__(self, accounts_dir: Path, certs_dir: Path) -> None:
        # mosquitto started as root reads the files as its own user: a directory it can reach (pytest's is 0700)
        self.dir = Path(tempfile.mkdtemp(prefix="stayaway-kit-"))
        os.chmod(self.dir, 0o755)
        for sub, source in (("stayaway", accounts_dir), ("certs", certs_dir)):
            shutil.copytree(source, self.dir / sub)
            os.chmod(self.dir / sub, 0o755)
            for f in (self.dir / sub).iterdir():
                os.chmod(f, 0o644)
        self.ports: dict[int, int] = {}
        lines = []
        for line in DEPLOY_CONF.read_text().splitlines():
            words = line.split("#", 1)[0].split()
            if words and words[0] == "listener":
                if int(words[1]) in self.ports:
                    raise ValueError(f"two listeners on {words[1]}")
                self.ports[int(words[1])] = free_port()
                line = f"listener {self.ports[int(words[1])]} 127.0.0.1"  # loopback only, whatever the file binds
            elif words and words[0] == "persistence":
                line = "persistence false"
            line = line.replace("/etc/mosquitto/stayaway/", f"{self.dir / 'stayaway'}/")
            line = line.replace("/etc/mosquitto/certs/", f"{self.dir / 'certs'}/")
            lines.append(line)
        text = "\n".join(lines) + f"\nlog_dest file {self.dir / 'mosquitto.log'}\nlog_type all\n"
        leftover = [ln for ln in text.splitlines() if "/etc/" in ln.split("#", 1)[0]]
        if leftover:
            raise ValueError(f"deploy/mosquitto.conf reads files this test does not provide: {leftover}")
        self.conf = self.dir / "mosquitto.conf"
        self.conf.write_text(text)
        self.proc = subprocess.Popen([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for port in self.ports.values():
                wait_listening("127.0.0.1", port)
        except TimeoutError as exc:
            log = self.log()
            self.stop()
            raise TimeoutError(f"mosquitto with deploy/mosquitto.conf did not start:\n{log[-3000:]}") from exc

    def log(self) -> str:
        path = self.dir / "mosquitto.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)
