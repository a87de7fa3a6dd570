"""``mqtt://[user[:password]@]host[:port]`` URLs."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt

from service.errors import ConfigError


@dataclass(frozen=True, slots=True)
class MqttUrl:
    host: str
    port: int
    username: str | None = None
    password: str | None = None

    def __str__(self) -> str:  # never prints the password
        user = f"{self.username}@" if self.username else ""
        return f"mqtt://{user}{self.host}:{self.port}"


def parse_mqtt_url(url: str) -> MqttUrl:
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "tcp"):
        raise ConfigError("MQTT URL must start with mqtt:// (e.g. mqtt://127.0.0.1:1883)")
    if not parts.hostname:
        raise ConfigError("MQTT URL needs a host")
    try:
        port = parts.port or 1883
    except ValueError as exc:
        raise ConfigError("MQTT URL has a bad port") from exc
    return MqttUrl(parts.hostname, port, unquote(parts.username) if parts.username else None,
                   unquote(parts.password) if parts.password else None)


def set_nodelay(_client: Any, _userdata: Any, sock: Any) -> None:
    """paho ``on_socket_open``: small QoS 1 packets must not wait for Nagle."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):
        pass


def new_client(client_id: str, protocol: str, url: MqttUrl, client_class: type[mqtt.Client] = mqtt.Client,
               **kw: Any) -> mqtt.Client:
    proto = mqtt.MQTTv5 if protocol == "5" else mqtt.MQTTv311
    client = client_class(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=proto, **kw)
    if url.username:
        client.username_pw_set(url.username, url.password)
    client.on_socket_open = set_nodelay
    client.reconnect_delay_set(min_delay=1, max_delay=10)
    return client
