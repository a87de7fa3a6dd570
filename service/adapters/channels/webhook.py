"""Signed webhooks: alert messages POSTed to an agency's endpoint, retried until they arrive.

The scheme (v1), for receivers::

    POST <the agency's http(s) URL>
    Content-Type: application/json
    X-Stayaway-Event-Id: <event_id>        deduplicate by it: delivery is at least once
    X-Stayaway-Timestamp: <unix seconds>   when this attempt was signed
    X-Stayaway-Signature: v1=<hex>         HMAC-SHA256(secret, b"<timestamp>." + body), lower-case hex

    <body>: the alert message (contract section 2), exactly the bytes that were signed

To check a request, recompute the HMAC over the raw body bytes as received
(before any JSON parsing) with the timestamp header, compare it in constant time
with the ``v1=`` value, and refuse a timestamp more than 300 s from your own
clock (a replay); ``verify`` does exactly this. While a secret is being rotated
the header may carry several comma-separated ``v1=`` entries: one match is
enough. Answer 2xx only once the message is stored. Anything else is retried:
any other status (3xx too: redirects are not followed, so a signed body never
goes anywhere but the configured URL), a refused connection, or no answer
within the timeout. Retries come after 1 s, 2 s, 4 s … at most 60 s, each
shortened by up to a quarter at random, or after ``Retry-After`` seconds (up to
60) on 429 and 503, and never stop: an alert does not expire. Each attempt is
signed afresh with its own timestamp; body and event id never change.

``WebhookSender`` keeps the deliveries in memory only: the outbox is the durable
copy, so the caller records attempts and receipts (``on_attempt``,
``on_delivered``) and submits again after a restart. Most urgent first: a
delivery's ``priority`` (lower first, as in the outbox) decides which waiting
one the next free worker takes, so a storm of low-priority events cannot hold
up a panic for more than one request per worker.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import http.client
import itertools
import logging
import random
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from service.adapters.channels import Attempt

log = logging.getLogger(__name__)
SCHEME = "v1"
TOLERANCE_S = 300
USER_AGENT = "stayaway-webhook/1"
MAX_RESPONSE_BYTES = 64 * 1024  # what we read of an answer; the status is all that counts
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signed_headers(secret: bytes, timestamp: int, body: bytes, event_id: str) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-Stayaway-Event-Id": event_id,
            "X-Stayaway-Timestamp": str(timestamp), "X-Stayaway-Signature": f"{SCHEME}={sign(secret, timestamp, body)}"}


def verify(secret: bytes, timestamp: int | str, body: bytes, header: str, now: float,
           tolerance_s: float = TOLERANCE_S) -> bool:
    """The receiver's check: ``timestamp`` and ``header`` as received, ``now`` in unix seconds."""
    if isinstance(timestamp, str):
        if not _TIMESTAMP.fullmatch(timestamp):
            return False
        timestamp = int(timestamp)
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = sign(secret, timestamp, body).encode()
    matched = False
    for entry in header.split(","):
        scheme, _, value = entry.strip().partition("=")
        if scheme == SCHEME:  # every entry compared: the time taken does not tell which one matched
            matched |= hmac.compare_digest(value.encode("utf-8", "replace"), expected)
    return matched


def backoff_s(failures: int, u: float, base_s: float = 1.0, cap_s: float = 60.0, jitter: float = 0.25) -> float:
    """The delay after ``failures`` failed attempts: base·2^(failures-1), at most ``cap_s``, shortened
    by up to ``jitter`` of itself (``u`` uniform in [0, 1)) so that receivers coming back are not hit
    by every sender at the same instant."""
    return min(cap_s, base_s * 2.0 ** min(failures - 1, 64)) * (1.0 - jitter * u)


def check_url(url: str) -> None:
    """Raises ValueError unless ``url`` is an absolute http(s) URL with a host."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError as exc:
        raise ValueError(f"not a valid webhook URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("a webhook URL must be http:// or https:// with a host")


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message for one endpoint; ``id`` is the caller's (an outbox row and endpoint)."""

    id: int
    url: str = field(repr=False)  # may carry a token: kept out of reprs and logs
    secret: bytes = field(repr=False)
    body: bytes = field(repr=False)  # carries positions: never logged
    event_id: str
    priority: int = 0  # lower first (outbox priorities: 0 panic … 3 warning)


def _event_wait(event: threading.Event, timeout: float | None) -> bool:
    return event.wait(timeout)


class WebhookSender:
    """Worker threads POST deliveries, most urgent first; one scheduler thread brings failed ones
    back when their back-off has passed. Callbacks run on the worker threads and must not block long.

    ``clock`` stamps attempts and signatures (UTC); ``monotonic`` and ``wait`` drive the back-off
    (tests pass a virtual clock whose ``wait`` advances it instead of sleeping)."""

    def __init__(self, on_attempt: Callable[[Attempt], None], on_delivered: Callable[[int], None],
                 clock: Callable[[], datetime], *, workers: int = 4, timeout_s: float = 10.0,
                 base_s: float = 1.0, cap_s: float = 60.0, monotonic: Callable[[], float] = time.monotonic,
                 wait: Callable[[threading.Event, float | None], bool] = _event_wait,
                 random_unit: Callable[[], float] = random.random, ssl_context: ssl.SSLContext | None = None) -> None:
        self.on_attempt, self.on_delivered, self.clock = on_attempt, on_delivered, clock
        self.timeout_s, self.base_s, self.cap_s = timeout_s, base_s, cap_s
        self.monotonic, self.wait, self.random_unit, self.ssl_context = monotonic, wait, random_unit, ssl_context
        self._lock = threading.Lock()
        self._has_ready = threading.Condition(self._lock)
        self._ready: list[tuple[int, int, int, Delivery, int]] = []  # (priority, id, seq, delivery, failures)
        self._later: list[tuple[float, int, Delivery, int]] = []  # (due on monotonic, seq, delivery, failures)
        self._pending: dict[int, Delivery] = {}  # queued, waiting for a retry or in flight
        self._active: dict[int, http.client.HTTPConnection] = {}  # worker -> its request in flight
        self._seq = itertools.count()
        self._tick = threading.Event()
        self._stopping = False
        self._threads = [threading.Thread(target=self._work, args=(i,), name=f"stayaway-webhook-{i}", daemon=True)
                         for i in range(workers)]
        self._threads.append(threading.Thread(target=self._schedule, name="stayaway-webhook-retry", daemon=True))

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def submit(self, delivery: Delivery) -> bool:
        """Queue ``delivery``; False if one with its id is already pending. ValueError for a URL that is not
        http(s) or an empty secret."""
        check_url(delivery.url)
        if not delivery.secret:
            raise ValueError("a webhook needs a secret to sign with")
        with self._lock:
            if self._stopping:
                raise RuntimeError("the webhook sender is stopped")
            if delivery.id in self._pending:
                return False
            self._pending[delivery.id] = delivery
            heapq.heappush(self._ready, (delivery.priority, delivery.id, next(self._seq), delivery, 0))
            self._has_ready.notify()
        return True

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def stop(self, timeout: float = 2.0) -> list[Delivery]:
        """Stop now: requests in flight are cut off (their attempts reported with an error and no retry).
        Returns what was not delivered, most urgent first; the outbox still has it."""
        with self._lock:
            self._stopping = True
            self._has_ready.notify_all()
            for conn in self._active.values():
                _cut(conn)
        self._tick.set()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            if t.ident is not None:
                t.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            return sorted(self._pending.values(), key=lambda d: (d.priority, d.id))

    def _work(self, index: int) -> None:
        while True:
            with self._lock:
                while not self._ready and not self._stopping:
                    self._has_ready.wait()
                if self._stopping:
                    return
                _, _, _, delivery, failures = heapq.heappop(self._ready)
            try:
                self._attempt(index, delivery, failures + 1)
            except Exception:  # a worker never dies; the delivery is tried again
                log.exception("webhook delivery %d: attempt failed unexpectedly", delivery.id)
                self._retry_later(delivery, failures + 1, self.cap_s)

    def _attempt(self, index: int, d: Delivery, attempt_no: int) -> None:
        at = self.clock()
        started = time.perf_counter()
        status, error, retry_after_s = self._post(index, d, int(at.timestamp()))
        duration_ms = (time.perf_counter() - started) * 1000.0
        if status is not None and 200 <= status < 300:
            with self._lock:
                self._pending.pop(d.id, None)
            self._report(Attempt(d.id, attempt_no, at, status, None, duration_ms))
            self._call(self.on_delivered, d.id)
            return
        if self._stopping:
            self._report(Attempt(d.id, attempt_no, at, status, error or "stopped", duration_ms))
            return
        delay_s = backoff_s(attempt_no, self.random_unit(), self.base_s, self.cap_s)
        if retry_after_s is not None and status in (429, 503):
            delay_s = max(delay_s, min(self.cap_s, retry_after_s))
        self._report(Attempt(d.id, attempt_no, at, status, error, duration_ms, retry_in_s=delay_s))
        if attempt_no == 1 or attempt_no % 10 == 0:
            log.warning("webhook delivery %d (%s) attempt %d failed (%s); will retry", d.id, d.event_id,
                        attempt_no, f"HTTP {status}" if status is not None else error)
        self._retry_later(d, attempt_no, delay_s)

    def _retry_later(self, d: Delivery, failures: int, delay_s: float) -> None:
        with self._lock:
            heapq.heappush(self._later, (self.monotonic() + delay_s, next(self._seq), d, failures))
        self._tick.set()

    def _post(self, index: int, d: Delivery, timestamp: int) -> tuple[int | None, str | None, float | None]:
        parts = urlsplit(d.url)
        if parts.scheme == "https":
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                parts.hostname or "", parts.port, timeout=self.timeout_s, context=self.ssl_context)
        else:
            conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=self.timeout_s)
        headers = signed_headers(d.secret, timestamp, d.body, d.event_id)
        headers["User-Agent"] = USER_AGENT
        if parts.username is not None:
            user_pass = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(user_pass).decode()
        try:
            with self._lock:
                if self._stopping:
                    return None, "stopped", None
                self._active[index] = conn
            conn.connect()
            with self._lock:  # stop() may have come while connecting, when there was no socket to cut
                if self._stopping:
                    return None, "stopped", None
            conn.request("POST", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""), d.body, headers)
            response = conn.getresponse()
            response.read(MAX_RESPONSE_BYTES)
            return response.status, None, _seconds(response.getheader("Retry-After"))
        except (OSError, http.client.HTTPException) as exc:
            return None, f"{type(exc).__name__}: {exc}"[:200], None
        finally:
            with self._lock:
                self._active.pop(index, None)
            conn.close()

    def _schedule(self) -> None:
        while True:
            with self._lock:
                if self._stopping:
                    return
                now = self.monotonic()
                while self._later and self._later[0][0] <= now:
                    _, seq, d, failures = heapq.heappop(self._later)
                    heapq.heappush(self._ready, (d.priority, d.id, seq, d, failures))
                    self._has_ready.notify()
                timeout = self._later[0][0] - now if self._later else None
            self.wait(self._tick, timeout)
            self._tick.clear()

    def _report(self, attempt: Attempt) -> None:
        self._call(self.on_attempt, attempt)

    @staticmethod
    def _call(callback: Callable[[Any], None], arg: Any) -> None:
        try:
            callback(arg)
        except Exception:  # the caller's bookkeeping must not stop deliveries
            log.exception("webhook callback failed")


def _cut(conn: http.client.HTTPConnection) -> None:
    """Wake a worker blocked on ``conn`` (another thread): shutting the socket down ends its wait."""
    sock = conn.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _seconds(value: str | None) -> float | None:
    """``Retry-After`` in seconds (its HTTP-date form is ignored: the back-off applies)."""
    if value is None or not value.strip().isascii() or not value.strip().isdigit():
        return None
    return float(value.strip())
