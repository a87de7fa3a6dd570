"""Pure alert policy: kinds, severities, episodes and routing.

No I/O, no clock: every time is passed in by the service layer.
"""

from alerts.model import Alert, AlertEvent, EventType, Kind, Severity, Status
from alerts.policy import PANIC_MERGE_S, UPDATE_EVERY_S, breach_ended, breach_continues, breach_started, panic_pressed
from alerts.routing import Agency, JurisdictionIndex, route

__all__ = [
    "PANIC_MERGE_S",
    "UPDATE_EVERY_S",
    "Agency",
    "Alert",
    "AlertEvent",
    "EventType",
    "JurisdictionIndex",
    "Kind",
    "Severity",
    "Status",
    "breach_continues",
    "breach_ended",
    "breach_started",
    "panic_pressed",
    "route",
]
