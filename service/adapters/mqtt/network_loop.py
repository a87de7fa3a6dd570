"""Drives one paho client through paho's external-loop API, for the ingest sessions.

paho's own ``loop_start`` thread runs one ``select()`` per packet and wakes up
once per PUBACK queued from another thread; each of those syscalls releases the
GIL and, in a process whose other thread is busy, waits to get it back. At
thousands of messages a second that hand-off is what limits ingest. This loop
uses only paho's documented external-loop calls (``socket``, ``loop_read``,
``loop_write``, ``loop_misc``, ``want_write``, ``on_socket_register_write``,
``reconnect``): one ``select()`` serves a burst of packets, and one
``loop_write()`` sends every PUBACK queued by the last committed batch. With a
:class:`BufferedClient` the socket reads and writes in bulk as well.
"""

from __future__ import annotations

import logging
import select
import socket
import ssl
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt

from service.adapters.mqtt.url import Client

log = logging.getLogger(__name__)
BURST = 512  # packets read per wake-up at most, so writes and keep-alive are never starved
TICK_S = 0.05  # select timeout: bounds how long a queued packet can wait if a wake-up is missed
RECV_BYTES = 256 * 1024  # one recv() serves this much of the stream
CLOSE_FLUSH_S = 1.0  # how long close() may block to send the DISCONNECT still buffered


class BufferedSocket:
    """The TCP socket as paho's ingest clients see it: buffered reads, coalesced writes.

    paho reads a packet as three to four ``recv`` calls (the type byte, each byte of the
    remaining length, the body) and writes each PUBACK with its own ``send``; every one is a
    system call that drops the GIL, and in a process whose ingest thread is busy each drop
    is a wait to get it back. Here one ``recv`` fills a buffer that serves many packets, and
    the PUBACKs queued by one committed batch leave in one ``send`` (:meth:`flush`, called by
    :class:`NetworkLoop` after ``loop_write``). paho's own websocket transport wraps its
    socket the same way; every other attribute is the socket's.

    Under TLS the socket is an ``ssl.SSLSocket``: a read may need more of a record
    (``SSLWantReadError``, which paho takes as "try again", as it does on its own TLS socket),
    a write may have to wait for the kernel (``SSLWantWriteError``: the bytes stay buffered and go
    with the next flush, OpenSSL resumes the same record), and decrypted bytes waiting inside the
    TLS layer count as pending, since ``select`` cannot see them.
    """

    __slots__ = ("_in", "_out", "_pos", "_sock", "_tls")

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._in = b""
        self._pos = 0
        self._out = bytearray()
        self._tls = isinstance(sock, ssl.SSLSocket)

    def recv(self, bufsize: int) -> bytes:
        pos = self._pos
        if pos >= len(self._in):
            data = self._sock.recv(RECV_BYTES)  # BlockingIOError/OSError go to paho as they would
            if not data:
                return data  # end of stream: paho sees the connection lost
            self._in, pos = data, 0
        out = self._in[pos:pos + bufsize]
        self._pos = pos + len(out)
        return out

    def pending(self) -> int:
        """Bytes received and not yet handed to paho (the name paho's own loop checks), TLS layer included."""
        return len(self._in) - self._pos + (self._sock.pending() if self._tls else 0)

    def send(self, data: bytes | bytearray) -> int:
        self._out += data
        return len(data)

    def unsent(self) -> int:
        return len(self._out)

    def flush(self) -> None:
        """Send what paho has written; what the socket can't take now stays for the next call."""
        out = self._out
        while out:
            try:
                sent = self._sock.send(out)
            except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                return  # the kernel's buffer is full (or TLS waits for the peer): the rest goes next time
            except OSError as exc:  # the connection broke: paho's next read or keep-alive sees it
                log.warning("MQTT send failed (%s); %d bytes dropped", exc.__class__.__name__, len(out))
                out.clear()
                return
            del out[:sent]

    def close(self) -> None:
        """paho closes right after queueing DISCONNECT: that (and any PUBACK) still goes out."""
        try:
            if self._out:
                self._sock.setblocking(True)
                self._sock.settimeout(CLOSE_FLUSH_S)
                self._sock.sendall(self._out)
        except OSError:
            pass
        finally:
            self._out.clear()
            self._sock.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class BufferedClient(Client):
    """A paho client whose socket (TCP, or TLS over it) is a :class:`BufferedSocket` (only for :class:`NetworkLoop`)."""

    def _create_socket(self) -> Any:  # paho's hook for its own transports (paho-mqtt 2.x)
        return BufferedSocket(super()._create_socket())



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
        except ssl.SSLCertVerificationError as exc:  # says which check failed, never a secret
            log.error("the broker's TLS certificate is refused (%s); retrying", exc.verify_message)
            return False
        except (OSError, mqtt.WebsocketConnectionError) as exc:
            log.warning("cannot reach the broker (%s); retrying", exc.__class__.__name__)
            return False

    def _turn(self) -> None:
        client = self._client
        sock = client.socket()
        if sock is None:
            return
        buffered = sock if isinstance(sock, BufferedSocket) else None
        pending = buffered is not None and buffered.pending() > 0
        wants_write = client.want_write() or (buffered is not None and buffered.unsent() > 0)
        readable, _, _ = select.select([sock, self._wake_r], [sock] if wants_write else [], [],
                                       0.0 if pending else TICK_S)
        if self._wake_r in readable:
            try:
                self._wake_r.recv(4096)
            except BlockingIOError:
                pass
        if pending or sock in readable:
            for _ in range(BURST):
                before = self._progress()
                if client.loop_read() != mqtt.MQTT_ERR_SUCCESS:
                    break  # an error: paho closed the socket
                if self._progress() == before and not (buffered is not None and buffered.pending()):
                    break  # nothing more to read for now
        if client.socket() is not None and client.want_write():
            client.loop_write()
        if buffered is not None and client.socket() is buffered:
            buffered.flush()
        if client.socket() is not None:
            client.loop_misc()
