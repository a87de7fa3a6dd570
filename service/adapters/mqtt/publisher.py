"""The alert publisher: QoS 1, never retained.

paho calls ``on_publish`` while holding its own out-message lock, so the
callback only appends the packet id to a deque; the dispatcher thread matches
ids to outbox rows. (Taking a lock of ours there could deadlock against a
concurrent ``publish``.)
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Any

import paho.mqtt.client as mqtt

from service.adapters.mqtt.url import MqttUrl, new_client

log = logging.getLogger(__name__)


class Publisher:
    def __init__(self, url: MqttUrl, client_id: str, protocol: str) -> None:
        self.url = url
        self._client = new_client(client_id, protocol, url)
        self._client.max_inflight_messages_set(0)  # the dispatcher caps in-flight; paho's cap rescans on every ack
        self._client.max_queued_messages_set(0)
        self._client.on_publish = self._on_publish
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self.acked: deque[int] = deque()
        self.connected = threading.Event()
        self.connections = 0

    def start(self) -> None:
        self._client.connect_async(self.url.host, self.url.port, keepalive=30)
        self._client.loop_start()

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def publish(self, topic: str, payload: bytes) -> int | None:
        """Queue one QoS 1 message; returns its packet id, or None if paho refused it."""
        info = self._client.publish(topic, payload, qos=1, retain=False)
        if info.rc in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            return info.mid
        log.error("publish to %s refused by the client: %s", topic, mqtt.error_string(info.rc))
        return None

    def _on_publish(self, _c: Any, _u: Any, mid: int, reason: Any, _props: Any) -> None:
        if getattr(reason, "is_failure", False):  # MQTT 5: the broker refused it; the dispatcher retries
            log.error("broker refused alert message %d: %s", mid, reason)
            return
        self.acked.append(mid)

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.error("broker %s refused the publisher: %s", self.url, reason)
            return
        self.connections += 1
        self.connected.set()
        log.info("alert publisher connected to %s", self.url)

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self.connected.clear()
        (log.info if reason == 0 else log.warning)("alert publisher disconnected: %s", reason)
