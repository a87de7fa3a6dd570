"""Minimal MQTT 3.1.1 clients on plain sockets (QoS 1): the same bytes on the wire as paho, a fraction of
its CPU, so that on a small machine the load generator leaves the cores to the broker and the server.

``RawPublisher`` sends what it is given in one write per ``flush`` and counts PUBACKs; ``AgencyConsole``
subscribes to agencies' alert topics, acknowledges every message and keeps its raw bytes with the time
the read that brought it returned; ``Devices`` publishes device messages one at a time, stamped."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from typing import Any

from benchmarks.harness.fixtures import rfc3339
from benchmarks.harness.processes import LOOPBACK, wait_for

FIX_ACC_M = 5.0  # the accuracy of ``Devices.fix``


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = n >> 7, n & 0x7F
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def read_varint(buf: bytes, i: int) -> tuple[int, int]:
    """(value, bytes used); used is 0 when the buffer ends inside the number."""
    value = shift = 0
    for used in range(1, 5):
        if i + used - 1 >= len(buf):
            return 0, 0
        b = buf[i + used - 1]
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, used
        shift += 7
    raise ValueError("malformed remaining length")


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        data += chunk
    return data


def connect(port: int, client_id: str, who: str, refused: type[Exception]) -> socket.socket:
    """A connected session: CONNECT with protocol "MQTT" level 4, clean session, keep-alive 0 (off), then
    its CONNACK; ``refused(...)`` is raised when the broker refuses ``who``."""
    sock = socket.create_connection((LOOPBACK, port), timeout=15)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        cid = client_id.encode()
        body = b"\x00\x04MQTT\x04\x02\x00\x00" + len(cid).to_bytes(2, "big") + cid
        sock.sendall(b"\x10" + varint(len(body)) + body)
        connack = recv_exactly(sock, 4)
        if connack[0] != 0x20 or connack[3] != 0:
            raise refused(f"broker refused {who}: CONNACK {connack.hex()}")
    except BaseException:
        sock.close()
        raise
    return sock


def read_packets(sock: socket.socket, bufsize: int, on_chunk: Any) -> None:
    """Reads ``sock`` until it closes. After each read, ``on_chunk(t, buf, packets)``: ``t`` when the read
    returned, ``packets`` the complete packets in ``buf`` as (first byte, body start, body end); a false
    answer stops the reading."""
    pending = b""
    while True:
        try:
            chunk = sock.recv(bufsize)
        except OSError:
            return
        if not chunk:
            return
        t = time.time()
        pending += chunk
        packets = []
        i = 0
        while len(pending) - i >= 2:
            length, used = read_varint(pending, i + 1)
            if used == 0 or len(pending) - i < 1 + used + length:
                break
            start = i + 1 + used
            packets.append((pending[i], start, start + length))
            i = start + length
        if not on_chunk(t, pending, packets):
            return
        pending = pending[i:]


def disconnect(sock: socket.socket) -> None:
    try:
        sock.sendall(b"\xe0\x00")  # DISCONNECT
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


class RawPublisher:
    """A minimal MQTT 3.1.1 QoS 1 publisher on a plain socket: one send per pacing slice, a reader
    thread counting PUBACKs. Same bytes on the wire as paho, a fraction of its CPU, so that on a
    small machine the load generator leaves the cores to the broker and the server."""

    def __init__(self, port: int, client_id: str) -> None:
        self.acked = 0
        self._mid = 0
        self._buf = bytearray()
        self._sock = connect(port, client_id, "the publisher", ConnectionError)
        self._sock.settimeout(None)
        self._reader = threading.Thread(target=read_packets, args=(self._sock, 65536, self._on_chunk),
                                        name="bench-raw-reader", daemon=True)
        self._reader.start()

    def _on_chunk(self, _t: float, _buf: bytes, packets: list[tuple[int, int, int]]) -> bool:
        for first, _start, _end in packets:
            if first >> 4 == 4:  # PUBACK
                self.acked += 1
        return True

    def publish(self, topic: str, payload: str) -> bool:
        self._mid = self._mid % 65535 + 1
        t, p = topic.encode(), payload.encode()
        body_len = 2 + len(t) + 2 + len(p)
        self._buf += b"\x32" + varint(body_len) + len(t).to_bytes(2, "big") + t + self._mid.to_bytes(2, "big") + p
        return True

    def flush(self) -> None:
        if self._buf:
            self._sock.sendall(self._buf)
            self._buf.clear()

    def close(self) -> None:
        try:
            self.flush()
        except OSError:
            self._sock.close()
        else:
            disconnect(self._sock)
        self._reader.join(5)


def agency_topic(agency: str) -> str:
    return f"stayaway/v1/agencies/{agency}/alerts"


class AgencyConsole:
    """An agency's console: a minimal MQTT 3.1.1 subscriber on a plain socket (QoS 1, a PUBACK for every
    message), like ``RawPublisher`` on the other side: it costs a fraction of paho's CPU, so
    that on a small machine a storm of alerts leaves the cores to the broker and the server. Each
    message's raw bytes are kept with the time the read that brought it returned; parsing is left for
    later. ``hook(t, payload)`` runs on the reader thread for each message (the webhook leg)."""

    def __init__(self, port: int, name: str, agencies: list[str], hook: Any = None) -> None:
        self.name, self.agencies, self.hook, self._port = name, agencies, hook, port
        self.raw: list[tuple[float, bytes]] = []
        self._parsed: list[tuple[float, dict[str, Any]]] = []
        self._sock: socket.socket | None = None
        self._reader: threading.Thread | None = None

    def start(self) -> None:
        cid = f"bench-alerts-{self.name}-{os.getpid()}"
        sock = self._sock = connect(self._port, cid, f"console {self.name}", RuntimeError)
        # SUBSCRIBE (packet id 1) at QoS 1
        subs = b"".join(len(t).to_bytes(2, "big") + t + b"\x01" for t in (agency_topic(a).encode() for a in self.agencies))
        sock.sendall(b"\x82" + varint(2 + len(subs)) + b"\x00\x01" + subs)
        head = recv_exactly(sock, 2)
        suback = recv_exactly(sock, head[1])
        if head[0] != 0x90 or any(code > 1 for code in suback[2:]):
            raise RuntimeError(f"console {self.name} could not subscribe: {(head + suback).hex()}")
        sock.settimeout(None)
        self._reader = threading.Thread(target=read_packets, args=(sock, 1 << 18, self._on_chunk),
                                        name=f"bench-console-{self.name}", daemon=True)
        self._reader.start()

    def _on_chunk(self, t: float, buf: bytes, packets: list[tuple[int, int, int]]) -> bool:
        acks = bytearray()
        for first, start, end in packets:
            if first >> 4 == 3:  # PUBLISH
                tlen = int.from_bytes(buf[start:start + 2], "big")
                at = start + 2 + tlen
                if (first >> 1) & 3:
                    acks += b"\x40\x02" + buf[at:at + 2]
                    at += 2
                payload = buf[at:end]
                self.raw.append((t, payload))
                if self.hook is not None:
                    self.hook(t, payload)
        if acks:
            try:
                self._sock.sendall(acks)  # type: ignore[union-attr]
            except OSError:
                return False
        return True

    def stop(self) -> None:
        if self._sock is None:
            return
        disconnect(self._sock)
        if self._reader is not None:
            self._reader.join(5)
        self._sock = None

    def messages(self) -> list[tuple[float, dict[str, Any]]]:
        n = len(self.raw)
        for t, payload in self.raw[len(self._parsed):n]:
            try:
                self._parsed.append((t, json.loads(payload)))
            except ValueError:
                self._parsed.append((t, {"_unparseable": True}))
        return self._parsed


def first_raised(consoles: list[AgencyConsole], kind: str) -> dict[tuple[str, str], tuple[float, dict[str, Any]]]:
    """(order_id, agency_id) -> (arrival, message) of the first ``raised`` event of ``kind``."""
    out: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
    for c in consoles:
        for t, m in c.messages():
            if m.get("kind") == kind and m.get("event") == "raised":
                out.setdefault((m.get("order_id"), m.get("agency_id")), (t, m))
    return out


class Devices:
    """The devices' side in this process: one raw MQTT 3.1.1 session publishing at QoS 1, one send per
    message, stamping each publish just before its bytes go out."""

    def __init__(self, port: int) -> None:
        self.pub = RawPublisher(port, f"bench-devices-{os.getpid()}")
        self.sent = 0
        self.seq: dict[str, int] = {}

    def send(self, device: str, channel: str, fields: str) -> float:
        seq = self.seq[device] = self.seq.get(device, 0) + 1
        t = time.time()
        self.pub.publish(f"stayaway/v1/devices/{device}/{channel}",
                         '{"seq":%d,"ts":"%s",%s}' % (seq, rfc3339(t), fields))
        self.pub.flush()
        self.sent += 1
        return t

    def fix(self, device: str, at: tuple[float, float]) -> float:
        return self.send(device, "location", '"lat":%.7f,"lon":%.7f,"acc":%.1f,"src":"gps"' % (at[0], at[1], FIX_ACC_M))

    def panic(self, device: str, at: tuple[float, float]) -> float:
        return self.send(device, "panic", '"lat":%.7f,"lon":%.7f,"acc":12.0' % at)

    def all_acked(self, timeout_s: float = 30) -> bool:
        return wait_for(lambda: self.pub.acked >= self.sent, timeout_s, 0.02)

    def close(self) -> None:
        self.pub.close()
