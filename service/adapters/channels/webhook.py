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
import hmac
import http.client
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
from urllib.parse import unquote, urlsplit

from service.adapters.channels import Attempt
from service.adapters.channels.retrying import RetryingSender, _event_wait, backoff_s

__all__ = ["Delivery", "WebhookSender", "backoff_s", "check_url", "sign", "signed_headers", "verify"]

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


class WebhookSender(RetryingSender):
    """POSTs signed deliveries (see the module docstring) through :class:`RetryingSender`'s queue."""

    name = "webhook"

    def __init__(self, on_attempt: Callable[[Attempt], None], on_delivered: Callable[[int], None],
                 clock: Callable[[], datetime], *, workers: int = 4, timeout_s: float = 10.0,
                 base_s: float = 1.0, cap_s: float = 60.0, monotonic: Callable[[], float] = time.monotonic,
                 wait: Callable[[threading.Event, float | None], bool] = _event_wait,
                 random_unit: Callable[[], float] = random.random, ssl_context: ssl.SSLContext | None = None) -> None:
        self.timeout_s, self.ssl_context = timeout_s, ssl_context
        self._active: dict[int, http.client.HTTPConnection] = {}  # worker -> its request in flight
        super().__init__(on_attempt, on_delivered, clock, workers=workers, base_s=base_s, cap_s=cap_s,
                         monotonic=monotonic, wait=wait, random_unit=random_unit)

    def _check(self, delivery: Delivery) -> None:
        """ValueError for a URL that is not http(s) or an empty secret."""
        check_url(delivery.url)
        if not delivery.secret:
            raise ValueError("a webhook needs a secret to sign with")

    def _interrupt(self) -> None:
        """Requests in flight are cut off (their attempts reported with an error and no retry)."""
        for conn in self._active.values():
            _cut(conn)

    def _attempt(self, index: int, d: Delivery, attempt_no: int) -> None:
        at = self.clock()
        started = time.perf_counter()
        status, error, retry_after_s = self._post(index, d, int(at.timestamp()))
        duration_ms = (time.perf_counter() - started) * 1000.0
        if status is not None and 200 <= status < 300:
            self._report(Attempt(d.id, attempt_no, at, status, None, duration_ms))
            self._delivered(d)
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
