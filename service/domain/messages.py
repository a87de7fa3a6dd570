"""Messages that are not alert events: to a device (a command, a notice to her phone) and to an agency
(an order's notice: service overdue, a reminder, its end). Pure values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class DeviceCommand:
    """A message for a device (contract section 3), sent because of an alert event: a command, or
    (``channel="notices"``) a notice to the victim's phone."""

    device_id: str
    body: dict[str, Any]
    alert_id: str
    event_seq: int
    channel: str = "commands"  # commands | notices


@dataclass(frozen=True, slots=True)
class AgencyNotice:
    """A message for an agency that is not an alert (``stayaway/v1/agencies/{id}/notices``): the court is
    told that an order is unserved 24 h after issue."""

    agency_id: str
    order_id: str
    kind: str
    body: dict[str, Any]
