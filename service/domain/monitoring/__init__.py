"""Per-order monitoring state and what each report changes (pure, in memory).

What one respondent fix can cause, per order (rules in ``geofence.engine``): ``zone_breach`` (raised,
updated, ended) for each fixed zone in force, ``pre_alert`` for the warning ring, ``proximity`` for the
moving zone around the victim's fresh fix, ``victim_signal_lost`` when her fix is too old to judge it,
and pursuit mode for the victim's phone. A victim fix moves the moving zone, so it is checked against
the respondent's fresh fix as well.

Reports are evaluated in device-time order per device. A backfill report (an element of a location
array, contract section 1) that arrives long after it was taken (a tracker uploading its buffer after
being offline) raises its alerts with ``retroactive: true``; one older than what was already evaluated
is checked against history on its own (``fixed_zones.check_old``). A single report that is merely
delayed (a broker backlog after a restart) stays a live alert: police must still act on it. Both are
flagged ``late`` where they are stored.

The rooms: ``state`` (what is kept; each alert once, by id), ``quality`` (what a report is worth),
``fixed_zones``, ``proximity`` (the moving zone and her signal), ``episodes`` (the one transition
function of both), ``health`` (device conditions, the silence watchdog), ``order_clock`` (expiry,
reminders, service), ``notices`` (her phone, pursuit mode; the one gate for device messages),
``outcomes`` (publishing, recipients, escalation, a person's step), ``panic`` (her press), ``links``
(devices and orders), ``restore`` (the state the database holds), and ``monitor`` (the façade).
"""

from service.domain.messages import AgencyNotice, DeviceCommand

from .fixed_zones import (
    DEFAULT_EXIT_MARGIN_M,
    DEFAULT_POSSIBLES_TO_BREACH,
    RETRO_MERGE_S,
    zone_anchor,
)
from .health import BATTERY_LOW_PCT, BATTERY_OK_PCT, HEALTH_CLOSE_AFTER_S
from .monitor import Monitor
from .notices import NOTICE_KINDS_LIVE, PURSUIT_INTERVAL_S
from .quality import (
    LATE_AFTER_MIN_S,
    LIVE_WINDOW_S,
    MAX_SPEED_MPS,
    POOR_ACCURACY_M,
    effective_ts,
    fresh_for_s,
    is_poor,
)
from .restore import StoredState, devices_to_read
from .state import (
    AUTO_CLOSE_KINDS,
    HEALTH_KINDS,
    MOVING_ZONE_ID,
    Changes,
    HealthEpisode,
    MembershipChange,
    OrderState,
    RoutedEvent,
)

__all__ = [
    "AUTO_CLOSE_KINDS", "BATTERY_LOW_PCT", "BATTERY_OK_PCT", "DEFAULT_EXIT_MARGIN_M", "DEFAULT_POSSIBLES_TO_BREACH",
    "HEALTH_CLOSE_AFTER_S", "HEALTH_KINDS", "LATE_AFTER_MIN_S", "LIVE_WINDOW_S", "MAX_SPEED_MPS", "MOVING_ZONE_ID",
    "NOTICE_KINDS_LIVE", "POOR_ACCURACY_M", "PURSUIT_INTERVAL_S", "RETRO_MERGE_S",
    "AgencyNotice", "Changes", "DeviceCommand", "HealthEpisode", "MembershipChange", "Monitor", "OrderState",
    "RoutedEvent", "StoredState",
    "devices_to_read", "effective_ts", "fresh_for_s", "is_poor", "zone_anchor",
]
