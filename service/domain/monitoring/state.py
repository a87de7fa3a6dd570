"""What the monitor keeps per order, and what a handler hands back (pure, in memory).

Each alert an order holds is stored once, by id, in ``OrderState.alerts``; every other slot (the
breach of a fixed zone, its pre-alert, the proximity alert and its pre-alert, her signal, her panic,
a device condition, a retroactive episode) holds only the id. A new value of an alert (armed,
acknowledged, escalated) is one assignment, wherever it is held."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from alerts import Alert, AlertEvent, Kind
from geofence import CompiledZone, Fix, LocalFrame, Reach, Rules, ZoneState
from service.domain import ends, law
from service.domain.messages import AgencyNotice, DeviceCommand
from service.domain.orders import OrderSpec, ZoneSpec

MOVING_ZONE_ID = "@victim"  # the moving zone's membership key; fixed zone ids can't contain '@'
# closed by the system when their condition ends (contract: "close automatically where safe, except tamper")
AUTO_CLOSE_KINDS = frozenset({Kind.BATTERY_LOW, Kind.SIGNAL_LOST, Kind.LOCATION_LOST, Kind.VICTIM_SIGNAL_LOST,
                              Kind.PRE_ALERT})
HEALTH_KINDS = frozenset({Kind.STRAP_TAMPER, Kind.CASE_TAMPER, Kind.BATTERY_LOW, Kind.SIGNAL_LOST, Kind.LOCATION_LOST,
                          Kind.DEVICE_CLONED})


@dataclass(frozen=True, slots=True)
class MembershipChange:
    order_id: str
    zone_id: str
    state: ZoneState
    alert_id: str | None


@dataclass(frozen=True, slots=True)
class RoutedEvent:
    """An alert event with everything its messages need."""

    event: AlertEvent
    recipients: tuple[str, ...]
    respondent_fix: Fix | None = None
    victim_fix: Fix | None = None
    zone: ZoneSpec | None = None
    distance_m: float | None = None


@dataclass(slots=True)
class Changes:
    membership: list[MembershipChange] = field(default_factory=list)
    events: list[RoutedEvent] = field(default_factory=list)
    commands: list[DeviceCommand] = field(default_factory=list)
    flags: dict[tuple[str, int], tuple[str, ...]] = field(default_factory=dict)  # report flags found here
    legal: list[law.LegalEvent] = field(default_factory=list)  # an order expired, its service is overdue
    expired: list[tuple[str, datetime]] = field(default_factory=list)  # orders whose time is up: (id, grace until)
    agency_notices: list[AgencyNotice] = field(default_factory=list)


@dataclass(slots=True)
class HealthEpisode:
    """Storm control of one device condition (``alerts.policy``): when its last change was published,
    when it last ended, and the changes not yet published."""

    last_flip_at: datetime | None = None  # server time of the last published change (None: only raised)
    ended_at: datetime | None = None  # server time the condition last ended; None while active
    active: bool = True  # the condition now, published or not
    flips: int = 0  # changes since the last published event, not yet published
    report_ts: datetime | None = None  # device time of the latest change
    details: dict[str, Any] = field(default_factory=dict)  # of the latest change


@dataclass(slots=True)
class OrderState:
    spec: OrderSpec
    frame: LocalFrame | None
    zones: list[CompiledZone]
    rules: Rules
    reach: Reach | None = None  # fixes outside it are farther than margin + ring from every zone
    ring_m: float = 0.0
    tz: tzinfo | None = None
    membership: dict[str, ZoneState] = field(default_factory=dict)  # zone id (or MOVING_ZONE_ID) -> state
    # every alert the slots below name, by id: the one place an alert's value is kept
    alerts: dict[str, Alert] = field(default_factory=dict)
    breach: dict[str, str] = field(default_factory=dict)  # fixed zone id -> its zone_breach
    warn: dict[str, str] = field(default_factory=dict)  # fixed zone id -> its pre_alert
    proximity: str | None = None  # the moving zone's proximity alert
    proximity_warn: str | None = None  # the moving zone's pre_alert
    signal: str | None = None  # victim_signal_lost
    panic: str | None = None  # her latest panic
    health: dict[tuple[str, Kind], str] = field(default_factory=dict)  # (device, kind) -> its episode's alert
    retro: dict[str, tuple[str, datetime]] = field(default_factory=dict)  # zone -> (retro alert, its last fix)
    recipients: dict[str, tuple[str, ...]] = field(default_factory=dict)  # alert_id -> agencies
    respondent_fix: Fix | None = None
    victim_fix: Fix | None = None
    party_distance: tuple[float, datetime] | None = None  # last distance between the parties, and when
    pursuit: bool = False  # devices were told to report every PURSUIT_INTERVAL_S
    monitoring_since: datetime | None = None  # when this version was loaded: the victim's grace starts here
    episodes: dict[str, tuple[datetime, datetime | None]] = field(default_factory=dict)  # zone -> last live (start, end)
    # earlier versions (when each took effect, its spec, its compiled zones) and when the current one did
    versions: tuple[tuple[datetime, OrderSpec, list[CompiledZone]], ...] = ()
    effective_from: datetime | None = None
    handover: dict[str, str] = field(default_factory=dict)  # replaced device -> its role, until the new one reports
    served: dict[str, datetime] = field(default_factory=dict)  # party -> when the order was served to it
    overdue_noticed: bool = False  # the court was told that service is overdue (once)
    episodes_health: dict[tuple[str, Kind], HealthEpisode] = field(default_factory=dict)  # same keys as health
    panic_silent: dict[str, bool] = field(default_factory=dict)  # panic alert id -> raised by a silent press
    police: str | None = None  # the police agency that answers for the order (service.domain.responsibility)
    ending: ends.Ending | None = None  # ended, in its grace: her panic still reaches police; nothing else is raised
    reminded: set[str] = field(default_factory=set)  # expiry reminders already sent (ends.due_reminders keys)
    undecided_at: datetime | None = None  # the court's last daily reminder of an order with no end of its own
    reached: set[str] = field(default_factory=set)  # every agency one of its alerts went to (told of its end)

    def open_conditions(self) -> bool:
        """A breach, a proximity or a pre-alert is open (pursuit mode)."""
        return bool(self.breach or self.warn or self.proximity or self.proximity_warn)

    def get(self, alert_id: str | None) -> Alert | None:
        return self.alerts.get(alert_id) if alert_id is not None else None

    def hold(self, alert: Alert) -> str:
        """Keep an alert's value; returns its id for a slot."""
        self.alerts[alert.alert_id] = alert
        return alert.alert_id

    def release(self, alert_id: str | None) -> Alert | None:
        """A slot let go of ``alert_id``: its value is no longer kept (returned)."""
        return self.alerts.pop(alert_id, None) if alert_id is not None else None

    def replace(self, alert: Alert) -> None:
        """The new value of an alert, where the order holds it (nothing when it holds it nowhere)."""
        if alert.alert_id in self.alerts:
            self.alerts[alert.alert_id] = alert

    # -- the episode slots of a zone: a fixed zone by its id, the moving zone by MOVING_ZONE_ID ----------
    def episode_alert(self, zone_id: str, warning: bool = False) -> Alert | None:
        if zone_id == MOVING_ZONE_ID:
            return self.get(self.proximity_warn if warning else self.proximity)
        return self.get((self.warn if warning else self.breach).get(zone_id))

    def open_episode(self, zone_id: str, alert: Alert, warning: bool = False) -> None:
        if zone_id == MOVING_ZONE_ID:
            self.release(self.proximity_warn if warning else self.proximity)
            if warning:
                self.proximity_warn = self.hold(alert)
            else:
                self.proximity = self.hold(alert)
            return
        table = self.warn if warning else self.breach
        if table.get(zone_id) not in (None, alert.alert_id):
            self.release(table[zone_id])
        table[zone_id] = self.hold(alert)

    def close_episode(self, zone_id: str, warning: bool = False) -> Alert | None:
        """The zone's open breach (or pre-alert) ends: its alert, no longer held (None: none was open)."""
        if zone_id != MOVING_ZONE_ID:
            return self.release((self.warn if warning else self.breach).pop(zone_id, None))
        if warning:
            alert_id, self.proximity_warn = self.proximity_warn, None
        else:
            alert_id, self.proximity = self.proximity, None
        return self.release(alert_id)

    def set_slot(self, name: str, alert: Alert | None) -> None:
        """One of the single slots (``signal``, ``panic``) now names ``alert`` (None: nothing)."""
        old = getattr(self, name)
        new = self.hold(alert) if alert is not None else None
        if old is not None and old != new:
            self.release(old)
        setattr(self, name, new)
