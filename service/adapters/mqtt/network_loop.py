"""Drives one paho client through paho's external-loop API, for the ingest sessions.

paho's own ``loop_start`` thread runs one ``select()`` per packet and wakes up
once per PUBACK queued from another thread; each of those syscalls releases the
GIL and, in a process whose other thread is busy, waits to get it back. At
thousands of messages a second that hand-off is what limits ingest. This loop
uses only paho's documented external-loop calls (``socket``, ``loop_read``,
``loop_write``, ``loop_misc``, ``want_write``, ``on_socket_register_write``,
``reconnect``): one ``select()`` serves a burst of packets, and one
``loop_write()`` sends every PUBACK queued by the last committed batch.
"""

from __future__ import annotations

import logging
import select
import socket
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt

log = logging.getLogger(__name__)
BURST = 512  # packets read per wake-up at most, so writes and keep-alive are never starved
TICK_S = 0.05  # select timeout: bounds how long a queued packet can wait if a wake-up is missed


class NetworkLoop:
    def __init__(self, client: mqtt.Client, name: str, progress: Callable[[], int],
                 before_connect: Callable[[], None] = lambda: None) -> None:
        """``progress`` returns a counter that grows with every message delivered (ends a burst)."""
        self._client = client
        self._before_connect = before_connect
        self._progress = progress
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        client.on_socket_register_write = self._wake
        self.reconnect_delay_s = (1.0, 10.0)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake()
        self._thread.join(timeout)
        self._wake_r.close()
        self._wake_w.close()

    def _wake(self, *_args: Any) -> None:
        try:
            self._wake_w.send(b"\0")
        except (BlockingIOError, OSError):
            pass  # a wake-up is already pending, or we are stopping

    def _run(self) -> None:
        delay = self.reconnect_delay_s[0]
        while not self._stop.is_set():
            if self._client.socket() is None:
                if self._connect():
                    delay = self.reconnect_delay_s[0]
                else:
                    self._stop.wait(delay)
                    delay = min(delay * 2, self.reconnect_delay_s[1])
                continue
            try:
                self._turn()
            except Exception:  # noqa: BLE001 - the outermost loop of this thread: log, go on
                log.exception("MQTT network loop step failed")
                self._stop.wait(0.1)
        self._client.disconnect()
        self._client.loop_write()

    def _connect(self) -> bool:
        try:
            self._before_connect()
            self._client.reconnect()
            return True
        except (OSError, mqtt.WebsocketConnectionError) as exc:
            log.warning("cannot reach the broker (%s); retrying", exc.__class__.__name__)
            return False

    def _turn(self) -> None:
        client = self._client
        sock = client.socket()
        if sock is None:
            return
        readable, writable, _ = select.select([sock, self._wake_r], [sock] if client.want_write() else [], [], TICK_S)
        if self._wake_r in readable:
            try:
                self._wake_r.recv(4096)
            except BlockingIOError:
                pass
        if sock in readable:
            for _ in range(BURST):
                before = self._progress()
                if client.loop_read() != mqtt.MQTT_ERR_SUCCESS or self._progress() == before:
                    break  # an error (paho closed the socket), or nothing more to read for now
        if client.socket() is not None and client.want_write():
            client.loop_write()
        if client.socket() is not None:
            client.loop_misc()
