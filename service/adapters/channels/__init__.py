"""Delivery channels besides MQTT: signed webhooks (``webhook``) and Apprise (``apprise_channel``).

Both report every attempt as an ``Attempt`` so the caller can record attempts
and receipts in the database; neither writes anything itself. The channel
modules are imported on their own (``apprise_channel`` needs the optional
``apprise`` package), so this package imports nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try to hand a message to a receiver, whatever its outcome."""

    delivery_id: int
    attempt_no: int  # 1, 2, 3 ...
    at: datetime  # when the attempt started (the sender's clock, UTC)
    status_code: int | None  # the receiver's HTTP status; None when there was no answer
    error: str | None  # why there was no answer (or why Apprise reported failure); None otherwise
    duration_ms: float
    retry_in_s: float | None = None  # webhooks: the delay before the next attempt; None once delivered or stopped
    target: str | None = None  # Apprise: the service, secrets masked; None for webhooks (one URL per delivery)

    @property
    def ok(self) -> bool:
        """Delivered: a 2xx answer (webhooks) or no error (Apprise, which exposes no status code)."""
        return self.error is None and (self.status_code is None or 200 <= self.status_code < 300)
