"""A tracker or a victim's phone: one paho client publishing QoS 1 JSON on its own topics.

Like a real device it connects with TLS when told to (``tls=True`` or an ``mqtts://`` URL given to
:meth:`SimDevice.from_url`): the broker's certificate must chain to ``ca_file`` (else the system's
trust store) and name the host; ``cert_file``/``key_file`` add a client certificate.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt


def rfc3339(dt: datetime) -> str:
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def broker_address(url: str) -> tuple[str, int, bool]:
    """``mqtt://host[:port]`` or ``mqtts://host[:port]`` as (host, port, tls); 1883 and 8883 by default."""
    parts = urlsplit(url)
    tls = parts.scheme in ("mqtts", "ssl")
    if (not tls and parts.scheme not in ("mqtt", "tcp")) or not parts.hostname:
        raise ValueError("a broker URL is mqtt://host[:port] or mqtts://host[:port]")
    return parts.hostname, parts.port or (8883 if tls else 1883), tls


class SimDevice:
    def __init__(self, device_id: str, host: str, port: int, first_seq: int = 1, password: str | None = None, *,
                 tls: bool = False, ca_file: str | None = None, cert_file: str | None = None,
                 key_file: str | None = None) -> None:
        """``password``: the device's broker password (``stayaway mqtt credentials``); its username is its id.
        ``tls``: connect with TLS, trusting ``ca_file`` (else the system's CAs), host name checked."""
        self.device_id = device_id
        self.seq = first_seq - 1
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=device_id, protocol=mqtt.MQTTv311)
        self._client.username_pw_set(device_id, password)
        if tls or ca_file or cert_file:
            self._client.tls_set(ca_certs=ca_file, certfile=cert_file, keyfile=key_file)
        self._host, self._port = host, port
        self._connected = threading.Event()
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self.commands: list[dict[str, Any]] = []  # what the backend told this device (contract section 3)
        self.notices: list[dict[str, Any]] = []
        self.interval_s: float | None = None  # the last set_interval received, as a real device would obey it

    @classmethod
    def from_url(cls, device_id: str, url: str, first_seq: int = 1, password: str | None = None,
                 **tls_files: str | None) -> SimDevice:
        """The device on the broker at ``url`` (``mqtt://`` or ``mqtts://``); ``tls_files``: ``ca_file``,
        ``cert_file``, ``key_file``."""
        host, port, tls = broker_address(url)
        return cls(device_id, host, port, first_seq, password, tls=tls, **tls_files)

    def connect(self, timeout: float = 10.0) -> SimDevice:
        self._client.connect(self._host, self._port, keepalive=30)
        self._client.loop_start()
        if not self._connected.wait(timeout):
            raise TimeoutError(f"{self.device_id}: broker did not answer")
        return self

    def _on_connect(self, client: mqtt.Client, *_a: Any) -> None:
        client.subscribe([(self.topic("commands"), 1), (self.topic("notices"), 1)])
        self._connected.set()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            body = json.loads(msg.payload)
        except ValueError:
            return
        if msg.topic.endswith("/commands"):
            self.commands.append(body)
            if body.get("cmd") == "set_interval" and isinstance(body.get("seconds"), (int, float)):
                self.interval_s = body["seconds"]
        else:
            self.notices.append(body)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def topic(self, kind: str) -> str:
        return f"stayaway/v1/devices/{self.device_id}/{kind}"

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def location(self, lat: float, lon: float, acc: float, ts: datetime | None = None, **extra: Any) -> dict[str, Any]:
        body = {"seq": self.next_seq(), "ts": rfc3339(ts or datetime.now(UTC)), "lat": round(lat, 7),
                "lon": round(lon, 7), "acc": round(acc, 1), **extra}
        self.send("location", body)
        return body

    def status(self, ts: datetime | None = None, **fields: Any) -> dict[str, Any]:
        body = {"seq": self.next_seq(), "ts": rfc3339(ts or datetime.now(UTC)), **fields}
        self.send("status", body)
        return body

    def panic(self, lat: float | None = None, lon: float | None = None, acc: float | None = None,
              silent: bool = False, ts: datetime | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"seq": self.next_seq(), "ts": rfc3339(ts or datetime.now(UTC)), "silent": silent}
        if lat is not None and lon is not None and acc is not None:
            body.update(lat=round(lat, 7), lon=round(lon, 7), acc=round(acc, 1))
        self.send("panic", body)
        return body

    def send(self, kind: str, body: Any, wait: bool = False) -> None:
        info = self._client.publish(self.topic(kind), json.dumps(body, separators=(",", ":")), qos=1)
        if wait:
            info.wait_for_publish(10)
