"""The ingest subscriber: one paho client with a persistent session.

QoS 1 with manual acknowledgements: ``on_message`` only stamps the receive
time and hands the message on; :meth:`ack` is called after the commit. The
session survives restarts (MQTT 3.1.1: clean session off; MQTT 5: Session
Expiry). How many messages the broker keeps in flight while a batch commits
is the broker's ``max_inflight_messages`` on MQTT 3.1.1 (20 on a stock
Mosquitto, 1000 in deploy/mosquitto.conf) and our Receive Maximum on MQTT 5.
MQTT 3.1.1 is the default because paho parses a properties block for every
MQTT 5 PUBLISH, which costs ~60 us per message (docs/performance.md). Acknowledgements for messages received on an earlier
connection are dropped: the broker redelivers those, and the (device_id, seq)
key makes the redelivery a no-op.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from service.adapters.mqtt.network_loop import BufferedClient, NetworkLoop
from service.adapters.mqtt.url import MqttUrl, new_client
from service.wire import Inbound

log = logging.getLogger(__name__)

REPORT_TOPICS = [("stayaway/v1/devices/+/location", 1), ("stayaway/v1/devices/+/status", 1),
                 ("owntracks/+/+", 1)]  # OwnTracks apps enrolled by topic (contract section 1)
PANIC_TOPICS = [("stayaway/v1/devices/+/panic", 1)]


class IngestClient:
    def __init__(self, url: MqttUrl, client_id: str, protocol: str, receive_maximum: int,
                 session_expiry_s: int, deliver: Callable[[Inbound], None],
                 topics: list[tuple[str, int]], lane: int = 0) -> None:
        self.url, self.protocol, self.topics, self.lane = url, protocol, topics, lane
        self._deliver = deliver
        self._generation = 0
        self._lock = threading.Lock()
        self.subscribed = threading.Event()
        self._sub_mid: int | None = None
        if protocol == "5":
            self._client = new_client(client_id, protocol, url, BufferedClient, manual_ack=True)
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = session_expiry_s
            props.ReceiveMaximum = receive_maximum
            self._connect_kw: dict[str, Any] = {"clean_start": False, "properties": props}
        else:
            self._client = new_client(client_id, protocol, url, BufferedClient, manual_ack=True, clean_session=False)
            self._connect_kw = {}
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self.received = 0
        self._loop = NetworkLoop(self._client, f"stayaway-mqtt-{client_id}", lambda: self.received,
                                 before_connect=self._new_connection)

    def start(self) -> None:
        self._client.connect_async(self.url.host, self.url.port, keepalive=30, **self._connect_kw)
        self._loop.start()

    def stop(self) -> None:
        self._loop.stop()

    def ack(self, items: Sequence[Inbound]) -> None:
        """Acknowledge this client's items that came on its current connection."""
        with self._lock:  # held, so a reconnect cannot start halfway through
            for item in items:
                if item.lane == self.lane and item.qos > 0 and item.generation == self._generation:
                    self._client.ack(item.mid, item.qos)

    def _new_connection(self) -> None:
        """Before paho reconnects: acknowledgements of earlier messages must not reach the new socket."""
        with self._lock:
            self._generation += 1

    # -- paho callbacks (network thread) ---------------------------------------
    def _on_connect(self, client: mqtt.Client, _u: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            log.error("broker %s refused the ingest connection: %s", self.url, reason)
            return
        log.info("ingest connected to %s (MQTT %s)", self.url, "5" if self.protocol == "5" else "3.1.1")
        _, self._sub_mid = client.subscribe(self.topics)

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, reason_codes: Any, _props: Any) -> None:
        if mid == self._sub_mid:
            failed = [rc for rc in reason_codes if rc.is_failure or rc.value < 1]  # QoS 0 would lose reports
            if failed:
                log.error("broker refused ingest subscriptions: %s", failed)
                return
            self.subscribed.set()
            log.info("ingest subscribed to %s", ", ".join(t for t, _ in self.topics))

    def _on_disconnect(self, _c: Any, _u: Any, _flags: Any, reason: Any, _props: Any) -> None:
        self.subscribed.clear()
        (log.info if reason == 0 else log.warning)("ingest disconnected from %s: %s", self.url, reason)

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self.received += 1
        received_at = datetime.now(UTC)
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            topic = "(topic not UTF-8)"
        self._deliver(Inbound(topic, bytes(msg.payload), received_at, msg.mid, msg.qos, self._generation, self.lane))
