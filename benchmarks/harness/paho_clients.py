"""paho clients (MQTT 3.1.1, QoS 1): a publisher as a device fleet's gateway would use it, and an agency
console subscribed to every agency's alerts."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from typing import Any

from benchmarks.harness.processes import LOOPBACK

ALERT_TOPIC = "stayaway/v1/agencies/+/alerts"


def _nodelay(_client: Any, _userdata: Any, sock: Any) -> None:
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):
        pass


class PahoPublisher:
    """The paho client (MQTT 3.1.1, QoS 1), as a device fleet's gateway would use it."""

    def __init__(self, port: int, client_id: str) -> None:
        import paho.mqtt.client as mqtt

        self._c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311,
                              clean_session=True)
        # No in-flight limit: with one, paho rescans every in-flight message on each PUBACK
        # (Client._update_inflight), O(limit) per message once a backlog forms; at 5,000 msg/s with
        # a limit of 1,000 the publisher fell behind and never caught up.
        self._c.max_inflight_messages_set(0)
        self._c.max_queued_messages_set(0)
        self._c.on_socket_open = _nodelay
        self.acked = 0
        self._connected = threading.Event()
        self._c.on_publish = self._on_publish
        self._c.on_connect = lambda _c, _u, _f, reason, _p: None if reason.is_failure else self._connected.set()
        self._c.connect(LOOPBACK, port, keepalive=60)
        self._c.loop_start()
        if not self._connected.wait(15):
            self.close()
            raise TimeoutError("broker did not accept the publisher")

    def _on_publish(self, *_a: Any) -> None:
        self.acked += 1

    def publish(self, topic: str, payload: str) -> bool:
        return self._c.publish(topic, payload, qos=1).rc == 0

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self._c.disconnect()
        self._c.loop_stop()


class Console:
    """Subscribes to every agency's alerts and stamps each message on arrival."""

    def __init__(self, port: int) -> None:
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[float, dict[str, Any]]] = []
        self.bad = 0
        self._subscribed = threading.Event()
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-console-{os.getpid()}",
                                   protocol=mqtt.MQTTv311, clean_session=True)
        self._client.on_socket_open = _nodelay
        self._client.on_connect = lambda c, *_: c.subscribe(ALERT_TOPIC, qos=1)
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.on_message = self._on_message
        self._port = port

    def start(self) -> None:
        self._client.connect(LOOPBACK, self._port, keepalive=60)
        self._client.loop_start()
        if not self._subscribed.wait(15):
            raise RuntimeError("agency console could not subscribe")

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        t = time.time()
        try:
            self.messages.append((t, json.loads(msg.payload)))
        except ValueError:
            self.bad += 1
