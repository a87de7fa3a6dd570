"""``stayaway serve`` as a real subprocess, and a paho "agency console" that records alert messages."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from tests.support.brokers import BrokerInfo, free_port

STAYAWAY = [sys.executable, "-m", "service.cli"]


def run_cli(args: list[str], env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(STAYAWAY + args, env=env, capture_output=True, text=True, timeout=120, check=check)


class Serve:
    def __init__(self, broker: BrokerInfo, db_url: str, data_dir: Path, client_id: str | None = None) -> None:
        self.port = free_port()
        self.env = {
            **os.environ,
            "STAYAWAY_MQTT_URL": broker.url,
            "STAYAWAY_MQTT_PROTOCOL": broker.protocol,
            "STAYAWAY_MQTT_CLIENT_ID": client_id or f"stayaway-test-{uuid.uuid4().hex[:8]}",
            "STAYAWAY_MQTT_SESSION_EXPIRY_S": "300",
            "STAYAWAY_DATABASE_URL": db_url,
            "STAYAWAY_DATA_DIR": str(data_dir),
            "STAYAWAY_HTTP": f"127.0.0.1:{self.port}",
            "STAYAWAY_CONFIG_POLL_S": "0.2",
        }
        self.log_path = data_dir / f"serve-{uuid.uuid4().hex[:6]}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.tokens: dict[str, str] = {}  # name -> API token (``add_token``); requests use ``token`` by default
        self.token: str | None = None

    def add_token(self, name: str, role: str, agency: str) -> str:
        """An API token made with the real CLI (``stayaway tokens add``); the first becomes the default."""
        token = self.cli("tokens", "add", name, "--role", role, "--agency", agency).stdout.strip()
        self.tokens[name] = token
        self.token = self.token or token
        return token

    def add_account(self, name: str, role: str, agency: str | None, password: str) -> str:
        """A person's account made with the real CLI (``stayaway accounts add``); returns its TOTP secret."""
        import re

        args = ["accounts", "add", name, "--role", role, "--password-stdin"] + (["--agency", agency] if agency else [])
        done = subprocess.run(STAYAWAY + args, env=self.env, input=password + "\n", capture_output=True, text=True,
                              timeout=120, check=True)
        found = re.search(r"TOTP secret \(shown once\): (\S+)", done.stdout)
        assert found, done.stdout
        return found.group(1)

    def _headers(self, token: str | None) -> dict[str, str]:
        chosen = token if token is not None else self.token
        return {"Authorization": f"Bearer {chosen}"} if chosen else {}

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_cli(list(args), self.env, check)

    def start(self, timeout: float = 60.0) -> Serve:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(STAYAWAY + ["serve"], env=self.env, stdout=self._log, stderr=self._log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited early:\n{self.log()}")
            status, _ = self.get("/healthz")
            if status == 200:
                return self
            time.sleep(0.1)
        raise TimeoutError(f"serve not ready in {timeout}s:\n{self.log()}")

    def get(self, path: str, token: str | None = None) -> tuple[int, Any]:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", headers=self._headers(token))
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")
        except OSError:
            return 0, None

    def post(self, path: str, body: Any, token: str | None = None) -> tuple[int, Any]:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json", **self._headers(token)},
                                     method="POST")
        try:
            with urllib.request.urlopen(req, timeout=15) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def counters(self) -> dict[str, int]:
        return (self.get("/healthz")[1] or {}).get("counters", {})

    def stop(self, kill: bool = False) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None
        self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class Listener:
    """Subscribes to ``topics`` (QoS 1) before anything is sent and keeps each message once: ``key`` says
    when two deliveries are the same message (at least once in, as the contract says)."""

    def __init__(self, broker: BrokerInfo, topics: list[str], name: str) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self.deliveries = 0
        self._seen: set[tuple[str, Any]] = set()
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{name}-{uuid.uuid4().hex[:8]}",
                                   protocol=mqtt.MQTTv311)
        self._client.on_message = self._on_message
        self._client.on_subscribe = lambda *_a: self._ready.set()
        self._client.connect(broker.host, broker.port)
        self._client.loop_start()
        self._client.subscribe([(topic, 1) for topic in topics])
        if not self._ready.wait(10):
            raise TimeoutError(f"{name} could not subscribe to {', '.join(topics)}")

    def key(self, msg: mqtt.MQTTMessage, body: dict[str, Any]) -> Any:
        return msg.payload

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        body = json.loads(msg.payload)
        with self._lock:
            self.deliveries += 1
            key = (msg.topic, self.key(msg, body))
            if key in self._seen:
                return
            self._seen.add(key)
            self.messages.append((msg.topic, {"_retain": msg.retain, **body}))

    def where(self, **match: Any) -> list[dict[str, Any]]:
        with self._lock:
            return [m for _, m in self.messages if all(m.get(k) == v for k, v in match.items())]

    def on(self, where: str, **match: Any) -> list[dict[str, Any]]:
        """The messages received on topic ``where`` whose fields hold ``match``."""
        with self._lock:
            return [m for t, m in self.messages if t == where and all(m.get(k) == v for k, v in match.items())]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 15.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.05)
        return predicate()

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


class Console(Listener):
    """Subscribes to every agency's alert topic, like the precinct consoles; deduplicates by ``event_id``."""

    def __init__(self, broker: BrokerInfo) -> None:
        super().__init__(broker, ["stayaway/v1/agencies/+/alerts"], "console")

    def key(self, msg: mqtt.MQTTMessage, body: dict[str, Any]) -> Any:
        return body.get("event_id")
