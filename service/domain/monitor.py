"""Per-order monitoring state and what each report changes (pure, in memory).

The ingest loop owns one :class:`Monitor`. It is rebuilt from the database on
start (and after a failed commit), so the database stays the truth and this is
its hot, in-memory copy. Handlers return :class:`Changes`; the unit of work
persists them in the same transaction as the reports that caused them.

What one respondent fix can cause, per order (rules in ``geofence.engine``):
``zone_breach`` (raised, updated, ended) for each fixed zone in force,
``pre_alert`` for the warning ring, ``proximity`` for the moving zone around
the victim's fresh fix, ``victim_signal_lost`` when her fix is too old to
judge it, and pursuit mode for the victim's phone. A victim fix moves the
moving zone, so it is checked against the respondent's fresh fix as well.

Reports are evaluated in device-time order per device. A backfill report (an
element of a location array, contract section 1) that arrives long after it was
taken (a tracker uploading its buffer after being offline) raises its alerts
with ``retroactive: true``; one older than what was already evaluated is
checked against history on its own (:meth:`Monitor._late`). A single report
that is merely delayed (a broker backlog after a restart) stays a live alert:
police must still act on it. Both are flagged ``late`` where they are stored.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from alerts import (
    Alert,
    AlertEvent,
    EventType,
    JurisdictionIndex,
    Kind,
    Status,
    breach_continues,
    breach_ended,
    breach_started,
    panic_pressed,
    route,
)
from alerts.escalation import arm, due, escalate, next_agencies, policy_for
from alerts.lifecycle import SYSTEM, resolve
from alerts.model import Outcome
from alerts.policy import FLAP_MERGE_S, condition_changed, flip_allowed
from alerts.routing import Agency
from geofence import (
    OUTSIDE,
    CompiledZone,
    Confidence,
    Fix,
    FrameCache,
    LocalFrame,
    Reach,
    Rules,
    Transition,
    ZoneState,
    classify,
    compile_zone,
    evaluate,
    evaluate_moving,
    party_distance_m,
)
from geofence.engine import distance_bounds_m
from geofence.schedule import in_force
from service.domain import ends, law, notices, profiles
from service.domain.directory import Directory
from service.domain.disclosure import may_send
from service.domain.messages import AgencyNotice, DeviceCommand
from service.domain.orders import OrderSpec, ZoneSpec
from service.domain.responsibility import responsible_police
from service.errors import NotFound
from service.wire import LocationReport, PanicPress, StatusReport

DEFAULT_EXIT_MARGIN_M = 50.0
DEFAULT_POSSIBLES_TO_BREACH = 3
MOVING_ZONE_ID = "@victim"  # the moving zone's key; fixed zone ids can't contain '@'
POOR_ACCURACY_M = 500.0  # a fix this vague (a cell tower) never confirms a breach on its own
MAX_SPEED_MPS = 70.0  # faster than this between two fixes (beyond both accuracy radii) is a jump
LATE_AFTER_MIN_S = 120.0  # a report received later than max(this, 3 x interval + 10 s) after its time is late
PURSUIT_INTERVAL_S = 15  # reporting interval asked of her phone while a condition is active (never of his tracker)
RETRO_MERGE_S = 600.0  # late fixes inside a zone this close in time belong to one retroactive episode
_CLOCK_FLAGS = frozenset({"ts_future", "ts_implausible"})
LIVE_WINDOW_S = LATE_AFTER_MIN_S  # a report received within this of its (effective) time is checked live
BATTERY_LOW_PCT = 15  # at or below this, not charging: battery_low
BATTERY_OK_PCT = 25  # the condition ends at or above this, or when charging
NOTICE_KINDS_LIVE = frozenset({Kind.ZONE_BREACH, Kind.PROXIMITY, Kind.PRE_ALERT})
# closed by the system when their condition ends (contract: "close automatically where safe, except tamper")
AUTO_CLOSE_KINDS = frozenset({Kind.BATTERY_LOW, Kind.SIGNAL_LOST, Kind.LOCATION_LOST, Kind.VICTIM_SIGNAL_LOST,
                              Kind.PRE_ALERT})
HEALTH_KINDS = frozenset({Kind.STRAP_TAMPER, Kind.CASE_TAMPER, Kind.BATTERY_LOW, Kind.SIGNAL_LOST, Kind.LOCATION_LOST,
                          Kind.DEVICE_CLONED})
HEALTH_CLOSE_AFTER_S = 60.0  # an ended device condition stays ended this long before the system closes it


def effective_ts(report: LocationReport | StatusReport | PanicPress) -> datetime:
    """When a report counts as taken for monitoring: its device time, or its receive time when the
    decoder found the device's clock implausible (``ts_future``, ``ts_implausible``, ``ts_invalid``).
    The stored report keeps the device's claim as evidence either way."""
    if report.ts is None or _CLOCK_FLAGS.intersection(report.flags) or "ts_invalid" in report.flags:
        return report.received_at
    return report.ts


def fresh_for_s(report_interval_s: int) -> float:
    """How old a party's fix may be and still count (contract: 3 x its interval + 10 s)."""
    return 3.0 * report_interval_s + 10.0


def is_poor(acc_m: float, src: str | None) -> bool:
    """A fix that never confirms a breach on its own: a cell-tower fix, or one vaguer than POOR_ACCURACY_M.
    (An impossible jump or a broken clock is flagged on the stored report, but the position itself
    may be good, and a missed breach is the worse error: it is judged by its accuracy like any other.)"""
    return acc_m > POOR_ACCURACY_M or src == "cell"


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
    breach_alerts: dict[str, Alert] = field(default_factory=dict)  # zone id -> zone_breach; MOVING -> proximity
    warn_alerts: dict[str, Alert] = field(default_factory=dict)  # zone id or MOVING -> pre_alert
    signal_alert: Alert | None = None  # victim_signal_lost
    recipients: dict[str, tuple[str, ...]] = field(default_factory=dict)  # alert_id -> agencies
    panic_alert: Alert | None = None
    respondent_fix: Fix | None = None
    victim_fix: Fix | None = None
    party_distance: tuple[float, datetime] | None = None  # last distance between the parties, and when
    pursuit: bool = False  # devices were told to report every PURSUIT_INTERVAL_S
    monitoring_since: datetime | None = None  # when this version was loaded: the victim's grace starts here
    retro: dict[str, tuple[Alert, datetime]] = field(default_factory=dict)  # zone -> (retro alert, its last fix)
    episodes: dict[str, tuple[datetime, datetime | None]] = field(default_factory=dict)  # zone -> last live (start, end)
    # earlier versions (when each took effect, its spec, its compiled zones) and when the current one did
    versions: tuple[tuple[datetime, OrderSpec, list[CompiledZone]], ...] = ()
    effective_from: datetime | None = None
    handover: dict[str, str] = field(default_factory=dict)  # replaced device -> its role, until the new one reports
    served: dict[str, datetime] = field(default_factory=dict)  # party -> when the order was served to it
    overdue_noticed: bool = False  # the court was told that service is overdue (once)
    health: dict[tuple[str, Kind], Alert] = field(default_factory=dict)  # (device, kind) -> its episode's alert
    episodes_health: dict[tuple[str, Kind], HealthEpisode] = field(default_factory=dict)  # same keys
    panic_silent: dict[str, bool] = field(default_factory=dict)  # panic alert id -> raised by a silent press
    police: str | None = None  # the police agency that answers for the order (service.domain.responsibility)
    ending: ends.Ending | None = None  # ended, in its grace: her panic still reaches police; nothing else is raised
    reminded: set[str] = field(default_factory=set)  # expiry reminders already sent (ends.due_reminders keys)
    undecided_at: datetime | None = None  # the court's last daily reminder of an order with no end of its own
    reached: set[str] = field(default_factory=set)  # every agency one of its alerts went to (told of its end)

    def open_conditions(self) -> bool:
        return bool(self.breach_alerts or self.warn_alerts)


class Monitor:
    def __init__(self, frames: FrameCache, directory: Directory, new_id: Callable[[], str]) -> None:
        self.frames = frames
        self.directory = directory  # the process's one agency directory (shared with the outbound planner)
        self.new_id = new_id
        self.orders: dict[str, OrderState] = {}
        self.devices: dict[str, list[tuple[str, str]]] = {}
        self.last_ts: dict[str, datetime] = {}  # device -> latest effective time evaluated live (never ahead of receipt)
        self.live_seq: dict[str, int] = {}  # device -> highest seq seen in a recent (live) report
        self.last_seen: dict[str, datetime] = {}  # device -> receive time of its latest message (watchdog)
        # every unresolved alert: (order id, its latest value, its latest routed event: recipients, fixes, zone)
        self.open_alerts: dict[str, tuple[str, Alert, RoutedEvent]] = {}
        self.escalation_policies: dict[str, object] = {}  # kind or severity -> steps (settings); else defaults
        self.health_close_after_s = HEALTH_CLOSE_AFTER_S
        self.owntracks: dict[str, str] = {}  # owntracks/{user}/{device} -> the enrolled device id it stands for
        self._order_clock_due: datetime | None = None  # nothing in the orders' clock before this; None: unknown
        self.reminder_days: tuple[int, ...] = ends.REMINDER_DAYS  # expiry reminders, days before the end
        self.grace: timedelta = ends.GRACE  # after an order's end her panic still reaches police this long
        self.legal_profile: str | None = None  # STAYAWAY_LEGAL_PROFILE: courts whose agency names none

    @property
    def agencies(self) -> dict[str, Agency]:
        return self.directory.agencies

    @property
    def jurisdictions(self) -> JurisdictionIndex:
        return self.directory.jurisdictions

    # -- loading -------------------------------------------------------------
    def load_order(self, spec: OrderSpec, now: datetime | None = None,
                   earlier: Sequence[tuple[datetime, OrderSpec]] = (), effective_from: datetime | None = None
                   ) -> OrderState:
        """``earlier``: the order's previous versions with the time each took effect, and
        ``effective_from`` the current one's: a report is checked against the zones in force at its time."""
        self.remove_order(spec.order_id)
        frame = self.frames.frame_for(*zone_anchor(spec.zones[0])) if spec.zones else None
        zones = [compile_zone(z.zone_id, z.kind, z.name, z.geometry, z.radius_m, frame) for z in spec.zones] if frame else []
        versions = tuple((at, s, [compile_zone(z.zone_id, z.kind, z.name, z.geometry, z.radius_m, frame) for z in s.zones])
                         for at, s in earlier) if frame is not None and effective_from is not None else ()
        margin = spec.exit_margin_m if spec.exit_margin_m is not None else DEFAULT_EXIT_MARGIN_M
        ring = spec.pre_alert_m or 0.0
        every_zone = [*spec.zones, *(z for _, s, _ in versions for z in s.zones)]
        reach = Reach.around(((z.geometry, z.radius_m) for z in every_zone), margin + ring) if every_zone else None
        rules = Rules(exit_margin_m=margin, possibles_to_breach=spec.possibles_to_breach or DEFAULT_POSSIBLES_TO_BREACH,
                      max_speed_mps=MAX_SPEED_MPS)
        tz = ZoneInfo(spec.timezone) if spec.timezone else None
        state = OrderState(spec, frame, zones, rules, reach, ring, tz, monitoring_since=now, versions=versions,
                           effective_from=effective_from, police=self.responsible(spec))
        self._order_clock_due = None  # an order came: the next deadline is looked for again
        self.orders[spec.order_id] = state
        for party in spec.parties():
            if party.device_id:
                self.devices.setdefault(party.device_id, []).append((spec.order_id, party.role))
            if party.owntracks_topic and party.device_id:
                self.owntracks[party.owntracks_topic] = party.device_id
        return state

    def responsible(self, spec: OrderSpec) -> str | None:
        """The order's responsible police agency with the agencies known now (None: none found)."""
        return responsible_police(spec, self.jurisdictions, {a: x.kind for a, x in self.agencies.items()}, strict=False)

    def refresh_police(self) -> None:
        """Agencies changed: every order's responsible police agency is found again."""
        for order in self.orders.values():
            order.police = self.responsible(order.spec)

    def end_order(self, order_id: str, ending: ends.Ending) -> None:
        """The order has ended (announced where it ended): in its grace it is kept for her panic only."""
        order = self.orders.get(order_id)
        if order is not None:
            order.ending = ending
            order.pursuit = False
            self._order_clock_due = None

    def remove_order(self, order_id: str) -> None:
        removed = self.orders.pop(order_id, None)
        if removed is None:
            return
        for party in removed.spec.parties():
            topic = party.owntracks_topic
            if topic and self.owntracks.get(topic) == party.device_id:
                still = next((p.device_id for o in self.orders.values() for p in o.spec.parties()
                              if p.owntracks_topic == topic and p.device_id), None)
                if still is None:  # no other order in force names it (two orders of her court may)
                    del self.owntracks[topic]
                else:
                    self.owntracks[topic] = still
        for device_id in list(self.devices):
            links = [link for link in self.devices[device_id] if link[0] != order_id]
            if links:
                self.devices[device_id] = links
            else:
                del self.devices[device_id]

    def add_handover(self, order_id: str, old_device: str, role: str) -> None:
        """A replaced device (a broken tracker) keeps reporting for its order until the new one's first
        message: no gap in monitoring while the new tracker is fitted."""
        order = self.orders.get(order_id)
        if order is None or old_device in order.handover:
            return
        order.handover[old_device] = role
        self.devices.setdefault(old_device, []).append((order_id, role))

    def _end_handover(self, dev: str) -> None:
        """``dev`` reported: where it replaced a device, the old one is released."""
        for order_id, role in list(self.roles_of(dev)):
            order = self.orders[order_id]
            party = order.spec.respondent if role == "respondent" else order.spec.victim
            if not order.handover or party.device_id != dev:
                continue
            for old in [d for d, r in order.handover.items() if r == role]:
                del order.handover[old]
                links = [x for x in self.devices.get(old, []) if x != (order_id, role)]
                if links:
                    self.devices[old] = links
                else:
                    self.devices.pop(old, None)

    def roles_of(self, device_id: str) -> list[tuple[str, str]]:
        return self.devices.get(device_id, [])

    # -- handlers ------------------------------------------------------------
    def on_location(self, report: LocationReport, now: datetime, changes: Changes) -> bool:
        """Fold one new report in; False when it was only checked against history (an old report).

        Device time is evidence, receive time is order (docs/architecture.md, "Time"):

        * a report whose device time is implausible (flagged ``ts_future``: ahead of the server's
          clock by more than the decoder's tolerance; ``ts_implausible``: a clock reset to 1901) is
          placed at its receive time, so a forged or broken clock can't move the device's clock;
        * a *recent* report (received within ``LIVE_WINDOW_S`` of its time) is always checked live,
          in the order it arrived, even when another report of the device claimed a later time: a
          second connection dating reports ahead can't turn his real breach into history;
        * only an *old* report behind what was evaluated (a buffer, a backlog) is checked on its own
          against history (:meth:`_late`);
        * a recent report whose seq is below one already seen live came from a second source
          publishing as this device: flagged ``two_sources`` (and ``out_of_order`` when its time is
          behind)."""
        dev = report.device_id
        ts = effective_ts(report)
        last = self.last_ts.get(dev)
        roles = self.roles_of(dev)
        recent = (report.received_at - ts).total_seconds() <= LIVE_WINDOW_S
        behind = last is not None and ts < last
        if behind and not recent:
            if "seq_conflict" in report.flags:  # its seq was used by another report with other content: a clone
                self._raise_health(dev, Kind.DEVICE_CLONED, ts, now, changes, {"seq": report.seq})
            self._flag(report, changes, "out_of_order")
            for order_id, role in roles:
                if role == "respondent" and self.orders[order_id].ending is None:
                    self._late(self.orders[order_id], report, now, changes)
            return False
        flags: list[str] = ["out_of_order"] if behind else []
        if recent and "backfill" not in report.flags:
            top = self.live_seq.get(dev)
            if top is not None and report.seq < top:
                flags.append("two_sources")
            else:
                self.live_seq[dev] = report.seq
        if not behind:
            self.last_ts[dev] = min(ts, report.received_at)  # a clock ahead never moves his clock forward
        poor = is_poor(report.acc_m, report.src)
        if poor:
            flags.append("poor_accuracy")
        for order_id, role in roles:
            order = self.orders[order_id]
            previous = order.victim_fix if role == "victim" else order.respondent_fix
            if previous is not None and "impossible_jump" not in flags and _impossible_jump(previous, report, ts):
                flags.append("impossible_jump")
        lag = (report.received_at - ts).total_seconds()
        fix = Fix(report.lat, report.lon, report.acc_m, ts, report.spd_mps, report.hdg_deg, poor)
        self._seen(report.device_id, report.received_at, ts, now, changes)
        self._end_health(report.device_id, Kind.LOCATION_LOST, ts, now, changes, "valid_fix")
        if report.batt_pct is not None:
            self._battery(report.device_id, report.batt_pct, None, ts, now, changes)
        for order_id, role in roles:
            order = self.orders[order_id]
            if order.ending is not None:  # ended, in its grace: kept as evidence, checked no more
                continue
            interval = (order.spec.victim if role == "victim" else order.spec.respondent).report_interval_s
            late = lag > max(LATE_AFTER_MIN_S, fresh_for_s(interval))
            if late and "late" not in flags:
                flags.append("late")
            retro = late and "backfill" in report.flags  # a buffer uploaded after being offline: evidence
            hold = "impossible_jump" in flags  # a glitch or a clone: it may raise, never end or reset (geofence.step)
            if role == "victim":
                order.victim_fix = fix
                self._check_moving(order, now, changes, retro, hold)
            else:
                previous = order.respondent_fix
                order.respondent_fix = fix
                self._check_zones(order, fix, previous, now, changes, retro, hold)
                self._check_moving(order, now, changes, retro, hold)
            self._pursuit(order, changes)
        if "two_sources" in flags or "seq_conflict" in report.flags:  # someone else publishes as this device
            # (a seq below a live one, or a seq already used with other content): routed where this fix is
            self._raise_health(dev, Kind.DEVICE_CLONED, ts, now, changes, {"seq": report.seq})
        if flags:
            self._flag(report, changes, *flags)
        return True

    def on_status(self, status: StatusReport, now: datetime, changes: Changes) -> None:
        """Device health (contract section 1, status): tamper, battery, GPS without a fix."""
        dev, ts = status.device_id, effective_ts(status)
        if "seq_conflict" in status.flags:  # its seq was used by another status with other content: a clone
            self._raise_health(dev, Kind.DEVICE_CLONED, ts, now, changes, {"seq": status.seq})
        self._seen(dev, status.received_at, ts, now, changes)
        for field_name, kind in (("strap", Kind.STRAP_TAMPER), ("case", Kind.CASE_TAMPER)):
            value = getattr(status, field_name)
            if value == "open":
                self._raise_health(dev, kind, ts, now, changes, {field_name: "open"})
            elif value == "closed":  # the condition ends; a tamper alert stays open until a person resolves it
                self._end_health(dev, kind, ts, now, changes, f"{field_name}_closed")
        if status.batt_pct is not None or status.charging is not None:
            self._battery(dev, status.batt_pct, status.charging, ts, now, changes)
        if status.gps == "no_fix":
            self._raise_health(dev, Kind.LOCATION_LOST, ts, now, changes, {"gps": "no_fix"})

    def on_tick(self, now: datetime, changes: Changes, listening_since: datetime | None = None) -> None:
        """The silence watchdog: a device with no message for more than 3 x its interval + 10 s is
        ``signal_lost`` (the clock is the server's: a silent device sends no time of its own).
        An MQTT Last Will would only be a hint; this is the detector. ``listening_since``: when ingest
        last (re)connected; silence before it is ours, not the device's. Then the escalation clock."""
        for order in self.orders.values():
            if order.ending is not None:  # ended: a silent tracker is no longer a condition
                continue
            for party in order.spec.parties():
                dev = party.device_id
                if not dev:
                    continue
                last = self.last_seen.get(dev) or order.monitoring_since
                if last is not None and listening_since is not None:
                    last = max(last, listening_since)
                if last is None or self._condition_active(order, (dev, Kind.SIGNAL_LOST)):
                    continue
                silent_s = (now - last).total_seconds()
                if silent_s > fresh_for_s(party.report_interval_s):
                    self._raise_health(dev, Kind.SIGNAL_LOST, last, now, changes,
                                       {"silent_s": round(silent_s, 1)}, only=order)
        self._order_clock(now, changes)
        self._health_tick(now, changes)
        self._escalations(now, changes)

    def _order_clock(self, now: datetime, changes: Changes) -> None:
        """The orders' clock (``service.domain.ends``): an order whose time is up ends, announced to every
        agency concerned and to her phone, and is kept through its grace for her panic only (its unresolved
        alerts stay open and handled), then dropped; reminders before expiry (court, police, her phone); a
        daily reminder to the court of an order with no end of its own; an order unserved 24 h after issue
        is reported to its court, once. The orders are scanned only when the earliest such deadline has come."""
        if self._order_clock_due is not None and now < self._order_clock_due:
            return
        for order in list(self.orders.values()):
            spec = order.spec
            if order.ending is not None:
                if now >= order.ending.grace_until:
                    self.remove_order(spec.order_id)
                continue
            standing = law.Standing(spec.order_id, spec.type, spec.court_id, spec.issued_at, spec.expires_at)
            ended = law.expire(standing, now)
            if ended is not None:
                ending = ends.Ending("expired", ended[0].ended_at or now, ends.grace_until(
                    ended[0].ended_at or now, now, self.grace))
                changes.legal.append(ended[1])
                changes.expired.append((spec.order_id, ending.grace_until))
                self._announce_end(order, ending, None, now, changes)
                phone = spec.victim.device_id
                if order.pursuit and phone:  # her phone back to her order's interval: nothing is watched now
                    self._send(order, DeviceCommand(phone, {"cmd": "set_interval", "seconds":
                                                            spec.victim.report_interval_s},
                                                    ends.notice_id(spec.order_id, "pursuit_end"), 1), changes)
                self.end_order(spec.order_id, ending)
                continue
            keys, days_left = ends.due_reminders(spec, now, order.reminded, self.reminder_days)
            if keys and days_left is not None:
                order.reminded.update(keys)
                changes.legal.append(law.LegalEvent(spec.order_id, "reminder", now, "system", "system", None,
                                                    {"keys": keys, "days_left": days_left}))
                agencies, phone = ends.reminder_notices(spec, keys[-1], days_left, order.police, now)
                changes.agency_notices.extend(agencies)
                for notice in phone:
                    self._send(order, notice, changes)
            if ends.undecided_due(spec, now, order.undecided_at):
                order.undecided_at = now
                changes.legal.append(law.LegalEvent(spec.order_id, "undecided", now, "system", "system", None,
                                                    {"type": spec.type}))
                changes.agency_notices.append(ends.undecided_notice(spec, now))
            if order.overdue_noticed:
                continue
            court = self.agencies.get(spec.court_id)
            try:
                profile = profiles.resolve(court.legal_profile if court is not None else None, self.legal_profile)
            except profiles.UnknownProfile:
                profile = profiles.resolve(None)
            missing = law.service_overdue(standing, order.served, now, profile)
            if missing:
                order.overdue_noticed = True
                changes.legal.append(law.LegalEvent(spec.order_id, "service_overdue", now, "system", "system", None,
                                                    {"unserved": missing}))
                changes.agency_notices.append(AgencyNotice(spec.court_id, spec.order_id, "service_overdue", {
                    "kind": "service_overdue", "order_id": spec.order_id, "unserved": missing,
                    "due_at": spec.issued_at + profile.service.due, "at": now}))
        self._order_clock_due = self._next_order_deadline(now)

    def _announce_end(self, order: OrderState, ending: ends.Ending, reason: str | None, now: datetime,
                      changes: Changes) -> None:
        others = order.reached | {a for recipients in order.recipients.values() for a in recipients}
        agencies, phone = ends.end_notices(order.spec, ending, reason, order.police, sorted(others), now)
        changes.agency_notices.extend(agencies)
        for notice in phone:
            self._send(order, notice, changes)

    def _next_order_deadline(self, now: datetime) -> datetime | None:
        """The earliest expiry, reminder, end of a grace, daily reminder, or service deadline not yet
        reported, after ``now`` (None: none at all). Served records change only through a reload, which
        resets it."""
        deadlines = []
        for order in self.orders.values():
            if order.ending is not None:
                deadlines.append(order.ending.grace_until)
                continue
            if order.spec.expires_at is not None:
                deadlines.append(order.spec.expires_at)
            reminder = ends.next_reminder_at(order.spec, order.reminded, self.reminder_days)
            if reminder is not None:
                deadlines.append(max(reminder, now))
            if ends.undecided(order.spec):
                deadlines.append(order.undecided_at + ends.UNDECIDED_EVERY if order.undecided_at is not None
                                 else max(now, order.spec.issued_at))
            due = order.spec.issued_at + law.SERVICE_DUE
            if not order.overdue_noticed and due > now:
                deadlines.append(due)
        return min(deadlines, default=now + timedelta(days=3650))

    def on_panic(self, press: PanicPress, now: datetime, changes: Changes) -> None:
        """A panic press is always raised: a bad or implausible time is replaced by its receive time."""
        ts = effective_ts(press)
        self._seen(press.device_id, press.received_at, ts, now, changes)
        hers = [o for o, role in self.roles_of(press.device_id) if role == "victim"]
        in_force = [o for o in hers if self.orders[o].ending is None]
        for order_id in in_force or hers:  # an ended order's grace only where no order in force protects her
            order = self.orders[order_id]
            here = Fix(press.lat, press.lon, press.acc_m, ts) if press.lat is not None else None  # type: ignore[arg-type]
            victim_fix = here or order.victim_fix
            details: dict[str, Any] = {"silent": press.silent, "press_seq": press.seq, "flags": list(press.flags)}
            if order.ending is not None:  # after the order's end, in its grace: still an emergency, marked so
                details.update(after_end=True, order_status=order.ending.status, order_ended_at=order.ending.at)
            event = panic_pressed(order.panic_alert, self.new_id(), order_id, ts, now, details)
            order.panic_alert = event.alert
            if event.event == EventType.RAISED:
                order.panic_silent[event.alert.alert_id] = press.silent
            where = _where(victim_fix) or _where(order.respondent_fix) or _anchor_of(order.spec)
            recipients = self._recipients(order, event.alert.alert_id, where)
            self._publish(order, RoutedEvent(event, recipients, order.respondent_fix, victim_fix), changes)

    # -- fixed zones ---------------------------------------------------------
    def _version(self, order: OrderState, ts: datetime) -> tuple[OrderSpec, list[CompiledZone]]:
        """The order's content in force at ``ts`` (service.domain.law.version_at); the current one for
        reports since it took effect."""
        if not order.versions or order.effective_from is None or ts >= order.effective_from:
            return order.spec, order.zones
        chosen = law.version_at([(at, (s, z)) for at, s, z in order.versions], ts)
        if chosen is None:  # before the first recorded version took effect: the first one
            _, s, z = order.versions[0]
            return s, z
        return chosen

    def _zone_specs(self, order: OrderState, ts: datetime) -> dict[str, ZoneSpec]:
        """Zone specs by id: the version's in force at ``ts``, then the current ones (names for messages)."""
        version, _ = self._version(order, ts)
        return {**{z.zone_id: z for z in order.spec.zones}, **{z.zone_id: z for z in version.zones}}

    def _zones_in_force(self, order: OrderState, ts: datetime) -> list[CompiledZone]:
        version, zones = self._version(order, ts)
        if order.tz is None:
            return zones
        specs = {z.zone_id: z for z in version.zones}
        return [z for z in zones if in_force(specs[z.zone_id].schedule, ts, order.tz)]

    def _check_zones(self, order: OrderState, fix: Fix, previous: Fix | None, now: datetime, changes: Changes,
                     retro: bool, hold: bool = False) -> None:
        if order.frame is None:
            return
        busy = order.breach_alerts or order.warn_alerts or any(
            s.inside or s.warned or s.possibles for s in order.membership.values())
        if not busy and order.reach is not None and not order.reach.holds(fix.lat, fix.lon, fix.accuracy_m):
            if previous is None or not order.reach.touches_segment((previous.lat, previous.lon), (fix.lat, fix.lon)):
                return  # far from every zone, inside none, and did not pass by one: nothing can change
        zones = self._zones_in_force(order, fix.ts)
        fixed = {k: v for k, v in order.membership.items() if k != MOVING_ZONE_ID}
        result = evaluate(fix, order.frame, zones, fixed, order.rules, order.ring_m, previous, hold)
        specs = self._zone_specs(order, fix.ts)
        current = {z.zone_id for z in order.spec.zones}
        for zone_id, state in result.states.items():
            if state != order.membership.get(zone_id, OUTSIDE):
                order.membership[zone_id] = state
                alert = order.breach_alerts.get(zone_id)
                if not any(t.zone_id == zone_id and t.kind in ("enter", "exit") for t in result.transitions):
                    changes.membership.append(MembershipChange(order.spec.order_id, zone_id, state,
                                                               alert.alert_id if alert else None))
        for t in result.transitions:
            self._zone_transition(order, t, fix, specs[t.zone_id], now, changes, retro, result.states.get(t.zone_id))
        in_force_ids = {z.zone_id for z in zones}
        for zone_id in [z for z in order.breach_alerts if z != MOVING_ZONE_ID]:
            alert = order.breach_alerts[zone_id]
            if zone_id not in in_force_ids:  # removed by the court, or its schedule window closed
                del order.breach_alerts[zone_id]
                reason = "zone_removed" if zone_id not in current else "schedule_ended"
                order.membership.pop(zone_id, None)
                changes.membership.append(MembershipChange(order.spec.order_id, zone_id, OUTSIDE, None))
                self._emit(order, breach_ended(alert, fix.ts, now, {"reason": reason}), fix, specs.get(zone_id), None,
                           changes)
                continue
            if any(t.zone_id == zone_id for t in result.transitions) or not result.states[zone_id].inside:
                continue
            depth = max(0.0, -result.distances_m[zone_id])
            update = breach_continues(alert, fix.ts, now, {"depth_m": round(depth, 1),
                                                           "confidence": result.confidences[zone_id].value})
            if update is not None:
                order.breach_alerts[zone_id] = update.alert
                self._emit(order, update, fix, specs[zone_id], round(depth, 1), changes)
        for zone_id in [z for z in order.warn_alerts if z != MOVING_ZONE_ID and z not in in_force_ids]:
            alert = order.warn_alerts.pop(zone_id)
            self._emit(order, breach_ended(alert, fix.ts, now, {"reason": "schedule_ended"}), fix, specs.get(zone_id),
                       None, changes)

    def _zone_transition(self, order: OrderState, t: Transition, fix: Fix, zone: ZoneSpec, now: datetime,
                         changes: Changes, retro: bool, state: ZoneState | None) -> None:
        oid = order.spec.order_id
        distance = round(abs(t.distance_m), 1)  # metres into the zone, or to it
        details: dict[str, Any] = {"confidence": t.confidence.value}
        if t.kind in ("enter", "crossed"):
            details["depth_m"] = distance
            event = breach_started(self.new_id(), oid, t.zone_id, t.at, now, retro, details)
            if t.kind == "crossed":  # an episode that began and ended between two fixes
                details["crossed"] = True
                self._emit(order, event, fix, zone, distance, changes)
                ended = breach_ended(event.alert, t.at, now, {"crossed": True, "confidence": t.confidence.value})
                self._emit(order, ended, fix, zone, distance, changes)
                return
            order.breach_alerts[t.zone_id] = event.alert
            order.episodes[t.zone_id] = (t.at, None)
            changes.membership.append(MembershipChange(oid, t.zone_id, state or OUTSIDE, event.alert.alert_id))
            self._emit(order, event, fix, zone, distance, changes)
        elif t.kind == "exit":
            alert = order.breach_alerts.pop(t.zone_id, None)
            if alert is not None:
                order.episodes[t.zone_id] = (alert.occurred_at, t.at)
            changes.membership.append(MembershipChange(oid, t.zone_id, state or OUTSIDE, None))
            if alert is not None:
                self._emit(order, breach_ended(alert, fix.ts, now, details), fix, zone, distance, changes)
        elif t.kind == "warn":
            if t.eta_s is not None:
                details["eta_s"] = t.eta_s
            event = breach_started(self.new_id(), oid, t.zone_id, t.at, now, retro, details, kind=Kind.PRE_ALERT)
            order.warn_alerts[t.zone_id] = event.alert
            self._emit(order, event, fix, zone, distance, changes)
        elif t.kind == "unwarn":
            alert = order.warn_alerts.pop(t.zone_id, None)
            if alert is not None:
                reason = {"reason": "breach"} if state is not None and state.inside else {}
                self._emit(order, breach_ended(alert, fix.ts, now, {**details, **reason}), fix, zone, distance, changes)

    # -- the moving zone -------------------------------------------------------
    def _check_moving(self, order: OrderState, now: datetime, changes: Changes, retro: bool, hold: bool = False) -> None:
        spec = order.spec
        if spec.min_distance_m is None or order.respondent_fix is None:
            return
        resp, victim = order.respondent_fix, order.victim_fix
        at = resp.ts if victim is None else max(resp.ts, victim.ts)
        victim_since = victim.ts if victim is not None else order.monitoring_since
        stale = victim_since is None or (at - victim_since).total_seconds() > fresh_for_s(spec.victim.report_interval_s)
        resp_stale = (at - resp.ts).total_seconds() > fresh_for_s(spec.respondent.report_interval_s)
        if stale:
            if victim is not None or victim_since is not None:
                self._victim_signal(order, True, resp, now, changes, retro, victim)
            return
        if victim is None:
            return  # within the grace after loading, with no fix of hers yet
        self._victim_signal(order, False, resp, now, changes, retro, victim)
        if resp_stale:
            return  # his last fix is too old to compare with her moving position
        before = order.membership.get(MOVING_ZONE_ID, OUTSIDE)
        if before == OUTSIDE:  # nothing open: skip the exact distance when the parties are plainly far apart
            far = spec.min_distance_m + order.ring_m + order.rules.exit_margin_m + resp.accuracy_m + victim.accuracy_m
            if distance_bounds_m(resp.lat, resp.lon, victim.lat, victim.lon)[0] > far:
                order.party_distance = None
                return
        prev = order.party_distance
        dt = (at - prev[1]).total_seconds() if prev is not None else None
        after, transitions, dist = evaluate_moving(
            MOVING_ZONE_ID, resp, victim, spec.min_distance_m, before, order.rules, order.ring_m,
            prev[0] if prev is not None else None, dt, hold)
        order.party_distance = (dist, at)
        if after != before:
            order.membership[MOVING_ZONE_ID] = after
            alert = order.breach_alerts.get(MOVING_ZONE_ID)
            changes.membership.append(MembershipChange(spec.order_id, MOVING_ZONE_ID, after,
                                                       alert.alert_id if alert else None))
        d_round = round(dist, 1)
        for t in transitions:
            details: dict[str, Any] = {"confidence": t.confidence.value, "min_distance_m": spec.min_distance_m}
            if t.kind == "enter":
                event = breach_started(self.new_id(), spec.order_id, None, t.at, now, retro, details, kind=Kind.PROXIMITY)
                order.breach_alerts[MOVING_ZONE_ID] = event.alert
                changes.membership.append(MembershipChange(spec.order_id, MOVING_ZONE_ID, after, event.alert.alert_id))
                self._emit(order, event, resp, None, d_round, changes, victim)
            elif t.kind == "exit":
                alert = order.breach_alerts.pop(MOVING_ZONE_ID, None)
                if alert is not None:
                    self._emit(order, breach_ended(alert, t.at, now, details), resp, None, d_round, changes, victim)
            elif t.kind == "warn":
                if t.eta_s is not None:
                    details["eta_s"] = t.eta_s
                event = breach_started(self.new_id(), spec.order_id, None, t.at, now, retro, details, kind=Kind.PRE_ALERT)
                order.warn_alerts[MOVING_ZONE_ID] = event.alert
                self._emit(order, event, resp, None, d_round, changes)
            elif t.kind == "unwarn":
                alert = order.warn_alerts.pop(MOVING_ZONE_ID, None)
                if alert is not None:
                    self._emit(order, breach_ended(alert, t.at, now, details), resp, None, d_round, changes)
        if not transitions and after.inside and MOVING_ZONE_ID in order.breach_alerts:
            update = breach_continues(order.breach_alerts[MOVING_ZONE_ID], at, now, {"confidence": classify(
                dist - spec.min_distance_m, resp.accuracy_m + victim.accuracy_m, resp.poor or victim.poor).value})
            if update is not None:
                order.breach_alerts[MOVING_ZONE_ID] = update.alert
                self._emit(order, update, resp, None, d_round, changes, victim)

    def _victim_signal(self, order: OrderState, lost: bool, resp: Fix, now: datetime, changes: Changes, retro: bool,
                       victim: Fix | None) -> None:
        """``victim_signal_lost``: the moving zone can't be judged because her fix is missing or too old."""
        open_alert = order.signal_alert
        if lost and open_alert is None:
            details = {"victim_fix_age_s": None if victim is None else round((resp.ts - victim.ts).total_seconds(), 1)}
            event = breach_started(self.new_id(), order.spec.order_id, None, resp.ts, now, retro, details,
                                   kind=Kind.VICTIM_SIGNAL_LOST)
            order.signal_alert = event.alert
            self._emit(order, event, resp, None, None, changes)
        elif not lost and open_alert is not None:
            order.signal_alert = None
            at = victim.ts if victim is not None else resp.ts
            self._emit(order, breach_ended(open_alert, at, now, {"reason": "victim_fix_fresh"}), resp, None, None, changes)

    # -- late reports ----------------------------------------------------------
    def _late(self, order: OrderState, report: LocationReport, now: datetime, changes: Changes) -> None:
        """A respondent fix older than one already evaluated: checked on its own against the zones in
        force then. A confirmed breach that no episode covered raises a retroactive alert (evidence
        for the court); late fixes close in time to it fold into the same retroactive episode."""
        if order.frame is None or is_poor(report.acc_m, report.src):
            return
        if order.reach is not None and not order.reach.holds(report.lat, report.lon, report.acc_m):
            return
        p = order.frame.position(report.lat, report.lon)
        specs = self._zone_specs(order, report.ts)
        fix = Fix(report.lat, report.lon, report.acc_m, report.ts)
        for zone in self._zones_in_force(order, report.ts):
            d = zone.signed_distance_m(p)
            if classify(d, report.acc_m) is not Confidence.CONFIRMED:
                continue
            live = order.breach_alerts.get(zone.zone_id)
            span = (live.occurred_at, None) if live is not None else order.episodes.get(zone.zone_id)
            if span is not None and span[0].timestamp() - RETRO_MERGE_S <= report.ts.timestamp() and (
                    span[1] is None or report.ts.timestamp() <= span[1].timestamp() + RETRO_MERGE_S):
                continue  # a live episode covers this moment, or is this visit seen a little early or late
            retro = order.retro.get(zone.zone_id)
            if retro is not None and abs((report.ts - retro[1]).total_seconds()) <= RETRO_MERGE_S:
                update = breach_continues(retro[0], max(report.ts, retro[1]), now, {"depth_m": round(-d, 1)})
                if update is not None:
                    order.retro[zone.zone_id] = (update.alert, max(report.ts, retro[1]))
                continue
            details = {"depth_m": round(-d, 1), "confidence": Confidence.CONFIRMED.value, "out_of_order": True}
            event = breach_started(self.new_id(), order.spec.order_id, zone.zone_id, report.ts, now, True, details)
            ended = breach_ended(event.alert, report.ts, now, {"out_of_order": True})
            order.retro[zone.zone_id] = (ended.alert, report.ts)
            self._emit(order, event, fix, specs[zone.zone_id], round(-d, 1), changes)
            self._emit(order, ended, fix, specs[zone.zone_id], round(-d, 1), changes)

    # -- pursuit mode ----------------------------------------------------------
    def _pursuit(self, order: OrderState, changes: Changes) -> None:
        """While a breach, proximity or pre-alert is open, the victim's phone reports every 15 s; back to
        her order's interval when all is clear. Sent once per change, tied to the alert that caused it.
        The respondent's tracker keeps the court's interval: a rate that followed these alerts would
        tell him where she is (``service.domain.disclosure``)."""
        active = order.open_conditions()
        if active == order.pursuit:
            return
        order.pursuit = active
        cause = next(iter(order.breach_alerts.values()), None) or next(iter(order.warn_alerts.values()), None)
        if cause is None:
            cause = _latest(changes, order.spec.order_id)
        if cause is None:
            return
        for party in order.spec.parties():
            if party.device_id:
                seconds = PURSUIT_INTERVAL_S if active else party.report_interval_s
                self._send(order, DeviceCommand(party.device_id, {"cmd": "set_interval", "seconds": seconds},
                                                cause.alert_id, cause.event_seq), changes)

    def _send(self, order: OrderState, command: DeviceCommand, changes: Changes) -> None:
        """Every message to a device goes through here and only what ``disclosure.may_send`` allows
        leaves: nothing the respondent's device can read depends on her position or her places."""
        roles = self.roles_of(command.device_id)
        if order.ending is not None and any(role == "respondent" for _, role in roles):
            return  # an ended order's phone, released and now someone's tracker: nothing of hers goes to it
        if may_send(command.channel, order.spec.order_id, roles):
            changes.commands.append(command)

    # -- device health ---------------------------------------------------------
    def _seen(self, dev: str, received_at: datetime, ts: datetime, now: datetime, changes: Changes) -> None:
        self._end_handover(dev)
        last = self.last_seen.get(dev)
        if last is None or received_at > last:
            self.last_seen[dev] = received_at
        self._end_health(dev, Kind.SIGNAL_LOST, ts, now, changes, "message_received")

    def _battery(self, dev: str, pct: int | None, charging: bool | None, ts: datetime, now: datetime,
                 changes: Changes) -> None:
        if charging or (pct is not None and pct >= BATTERY_OK_PCT):
            self._end_health(dev, Kind.BATTERY_LOW, ts, now, changes, "charging" if charging else "battery_ok")
        elif pct is not None and pct <= BATTERY_LOW_PCT:
            self._raise_health(dev, Kind.BATTERY_LOW, ts, now, changes, {"batt": pct})

    def _raise_health(self, dev: str, kind: Kind, ts: datetime, now: datetime, changes: Changes,
                      details: dict[str, Any], only: OrderState | None = None) -> None:
        for order_id, role in self.roles_of(dev):
            order = self.orders[order_id]
            if (only is not None and order is not only) or order.ending is not None:
                continue
            key = (dev, kind)
            alert = order.health.get(key)
            if alert is not None and alert.status == Status.RESOLVED:
                if self._condition_active(order, key):
                    continue  # a person closed it while the condition was on: not raised again until it ends
                self._forget_health(order, key)
                alert = None
            if alert is not None:  # the same episode: the condition is back
                self._condition_flip(order, key, True, ts, now, changes, {**details, "device_id": dev, "role": role})
                continue
            event = breach_started(self.new_id(), order_id, None, ts, now, False,
                                   {**details, "device_id": dev, "role": role}, kind=kind, device_id=dev)
            order.health[key] = event.alert
            order.episodes_health[key] = HealthEpisode()
            self._emit_health(order, event, changes)

    def _end_health(self, dev: str, kind: Kind, ts: datetime, now: datetime, changes: Changes, reason: str) -> None:
        for order_id, role in self.roles_of(dev):
            order = self.orders[order_id]
            key = (dev, kind)
            alert = order.health.get(key)
            if alert is None:
                continue
            if alert.status == Status.RESOLVED:  # a person closed it; its condition is over too
                self._forget_health(order, key)
                continue
            self._condition_flip(order, key, False, ts, now, changes, {"reason": reason, "device_id": dev, "role": role})

    def _condition_active(self, order: OrderState, key: tuple[str, Kind]) -> bool:
        episode = order.episodes_health.get(key)
        return key in order.health and (episode is None or episode.active)

    def _forget_health(self, order: OrderState, key: tuple[str, Kind]) -> None:
        order.health.pop(key, None)
        order.episodes_health.pop(key, None)

    def _condition_flip(self, order: OrderState, key: tuple[str, Kind], active: bool, ts: datetime, now: datetime,
                        changes: Changes, details: dict[str, Any]) -> None:
        """A device condition ends or comes back: published now, or (storm control) folded into the
        next ``updated`` that :meth:`_health_tick` publishes once ``UPDATE_EVERY_S`` has passed."""
        episode = order.episodes_health.setdefault(key, HealthEpisode(active=order.health[key].condition_active))
        if episode.active == active:
            return
        episode.active, episode.report_ts, episode.details = active, ts, details
        episode.ended_at = None if active else now
        episode.flips += 1
        if flip_allowed(episode.last_flip_at, now):
            self._publish_flip(order, key, now, changes)

    def _publish_flip(self, order: OrderState, key: tuple[str, Kind], now: datetime, changes: Changes) -> None:
        episode, alert = order.episodes_health[key], order.health[key]
        assert episode.report_ts is not None
        event = condition_changed(alert, episode.active, episode.report_ts, now, episode.details, episode.flips)
        episode.flips, episode.last_flip_at = 0, now
        order.health[key] = event.alert
        self._emit_health(order, event, changes)

    def _health_tick(self, now: datetime, changes: Changes) -> None:
        """Publish device-condition changes held back by storm control; close a safe condition that has
        stayed ended for ``health_close_after_s``; stop merging into a tamper alert ended long ago."""
        for order in self.orders.values():
            for key, episode in list(order.episodes_health.items()):
                alert = order.health[key]
                if alert.status == Status.RESOLVED:
                    if not episode.active:
                        self._forget_health(order, key)
                    continue
                if episode.flips and flip_allowed(episode.last_flip_at, now):
                    self._publish_flip(order, key, now, changes)
                    alert = order.health[key]
                if episode.active or episode.flips or episode.ended_at is None:
                    continue
                ended_s = (now - episode.ended_at).total_seconds()
                if key[1] in AUTO_CLOSE_KINDS and ended_s >= self.health_close_after_s:
                    closed = resolve(alert, SYSTEM, now, Outcome.CONDITION_ENDED, None)
                    self._forget_health(order, key)
                    self._emit_health(order, closed, changes)
                elif key[1] not in AUTO_CLOSE_KINDS and ended_s >= FLAP_MERGE_S:
                    self._forget_health(order, key)  # stays open for a person; a new opening is a new alert

    def _emit_health(self, order: OrderState, event: AlertEvent, changes: Changes) -> None:
        """Health alerts go where the respondent is (his last fix), and to the court; never her position."""
        fix = order.respondent_fix
        recipients = self._recipients(order, event.alert.alert_id, _where(fix))
        self._publish(order, RoutedEvent(event, recipients, fix), changes)

    # -- notices to the victim --------------------------------------------------
    def _notice(self, order: OrderState, routed: RoutedEvent, changes: Changes) -> None:
        """What the victim's phone is told (contract section 3; texts in ``service.domain.notices``, in her
        language): that the respondent breached or is approaching, and when it is over; that her panic was
        received; who took the alert up, dispatched, arrived, how it ended, where it was referred or
        escalated. Each says only what truly happened: "police alerted" only when a police agency received
        it. Never his coordinates, nor anything at all about a silent panic (he may be holding her phone),
        nor about a retroactive (evidence-only) alert."""
        phone = order.spec.victim.device_id
        event = routed.event
        alert = event.alert
        if phone is None or alert.retroactive or (alert.kind == Kind.PANIC and order.panic_silent.get(alert.alert_id)):
            return
        if alert.kind not in (*NOTICE_KINDS_LIVE, Kind.PANIC):
            return  # device health: the officers' business
        locale = notices.locale_of(order.spec.victim.locale)
        action = event.details.get("action")
        topic: str | None = None
        facts: dict[str, Any] = {}
        if event.event == EventType.RAISED:
            topic = {Kind.ZONE_BREACH: "breach", Kind.PROXIMITY: "proximity", Kind.PRE_ALERT: "approach",
                     Kind.PANIC: "panic"}[alert.kind]
            place = notices.word("a_protected_place", locale) if alert.zone_id is None else _zone_name(order, alert.zone_id)
            facts = {"place": place, "reached": self._reached(order, routed.recipients, locale)}
        elif event.event == EventType.UPDATED and event.details.get("condition") == "ended":
            if alert.kind in (Kind.ZONE_BREACH, Kind.PROXIMITY):
                topic = "moved_away"
        elif event.event == EventType.ACKNOWLEDGED:
            topic, facts = "acknowledged", {"agency": self._agency_name(event.details.get("actor_agency"), locale)}
        elif event.event == EventType.UPDATED and action in ("dispatched", "on_scene"):
            topic = "dispatch" if action == "dispatched" else "on_scene"
            facts = {"agency": self._agency_name(event.details.get("actor_agency"), locale)}
        elif event.event == EventType.UPDATED and action == "referred":
            topic, facts = "referral", {"agency": self._agency_name(event.details.get("referred_to"), locale)}
        elif event.event == EventType.ESCALATED:
            added = event.details.get("escalated_to") or ()
            to = [self._agency_name(a, locale) for a in added] or [
                self._agency_name(a, locale) for a in routed.recipients]
            topic, facts = "escalation", {"to": notices.word("list_sep", locale).join(to)}
        elif event.event == EventType.RESOLVED and alert.resolved_by != SYSTEM.actor_id:
            topic, facts = "outcome", {"outcome": notices.outcome_text(alert.outcome, locale)}
        if topic is None:
            return
        body = notices.body(f"{alert.alert_id}:{alert.event_seq}", topic, locale, facts, order.spec.order_id,
                            alert.alert_id)
        self._send(order, DeviceCommand(phone, body, alert.alert_id, alert.event_seq, channel="notices"), changes)

    def _reached(self, order: OrderState, recipients: Sequence[str], locale: str) -> str:
        """Who an alert truly reached, by name (an agency's id where its name is not known)."""
        def name(a: str) -> str:
            return self.agencies[a].name if a in self.agencies else a

        police = next((name(a) for a in recipients if a != order.spec.court_id and (
            a == order.police or (a in self.agencies and self.agencies[a].kind == "police"))), None)
        court = next((name(a) for a in recipients if a == order.spec.court_id), None)
        return notices.reached(police, court, locale)

    def _agency_name(self, agency_id: object, locale: str) -> str:
        agency = self.agencies.get(agency_id) if isinstance(agency_id, str) else None
        if agency is None:
            return notices.word("the_police", locale)
        return agency.name

    # -- helpers ---------------------------------------------------------------
    def _flag(self, report: LocationReport, changes: Changes, *flags: str) -> None:
        key = (report.device_id, report.seq)
        known = changes.flags.get(key, report.flags)
        changes.flags[key] = tuple(dict.fromkeys((*known, *flags)))

    def _emit(self, order: OrderState, event: AlertEvent, fix: Fix, zone: ZoneSpec | None, distance: float | None,
              changes: Changes, victim: Fix | None = None) -> None:
        recipients = self._recipients(order, event.alert.alert_id, (fix.lat, fix.lon))
        self._publish(order, RoutedEvent(event, recipients, fix, victim, zone, distance), changes)

    # -- every event goes through here -------------------------------------------------------------
    def _publish(self, order: OrderState, routed: RoutedEvent, changes: Changes) -> None:
        """Arm a new alert's escalation clock, keep the registry of unresolved alerts, tell the
        victim what she should know, and close automatically a safe condition that has ended."""
        event = routed.event
        if event.event == EventType.RAISED:
            from alerts.escalation import response_for

            # the clock's owner: the police recipient (the first recipient only when no police agency received it)
            handler = self._handling_agency(routed.recipients)
            retro = event.alert.retroactive  # an episode found afterwards: on record, with no clock
            armed = arm(event.alert, () if retro else policy_for(
                event.alert.kind, event.alert.severity, self.escalation_policies,
                handler.escalation if handler is not None else None),
                handler.agency_id if handler is not None else next(iter(routed.recipients), None),
                None if retro else response_for(event.alert.kind, handler.response if handler is not None else None))
            event = AlertEvent(armed, event.event, event.at, event.details)
            routed = dataclasses.replace(routed, event=event)
            self._replace_alert(order, armed)
        changes.events.append(routed)
        alert = event.alert
        if alert.status == Status.RESOLVED:
            self.open_alerts.pop(alert.alert_id, None)
        else:
            self.open_alerts[alert.alert_id] = (order.spec.order_id, alert, routed)
        self._notice(order, routed, changes)
        if (not alert.condition_active and alert.kind in AUTO_CLOSE_KINDS and alert.kind not in HEALTH_KINDS
                and alert.status != Status.RESOLVED and event.event != EventType.RESOLVED):
            closed = resolve(alert, SYSTEM, event.at, Outcome.CONDITION_ENDED, None)
            self._replace_alert(order, closed.alert)
            self._publish(order, dataclasses.replace(routed, event=closed), changes)

    def _replace_alert(self, order: OrderState, alert: Alert) -> None:
        """Put the new value of an alert wherever the order's state holds it."""
        aid = alert.alert_id
        for table in (order.breach_alerts, order.warn_alerts, order.health):
            for key, held in table.items():
                if held.alert_id == aid:
                    table[key] = alert  # type: ignore[index]
        for key, (held, last) in list(order.retro.items()):
            if held.alert_id == aid:
                order.retro[key] = (alert, last)
        if order.panic_alert is not None and order.panic_alert.alert_id == aid:
            order.panic_alert = alert
        if order.signal_alert is not None and order.signal_alert.alert_id == aid:
            order.signal_alert = alert

    # -- people acting on alerts, and the escalation clock ---------------------------------------
    def act(self, alert_id: str, step: Callable[[Alert], AlertEvent], changes: Changes,
            add_recipients: tuple[str, ...] = ()) -> Alert:
        """Apply a lifecycle step (``alerts.lifecycle``) to an unresolved alert; raises ``NotFound`` when there
        is none with that id, ``LifecycleError`` when the step is not allowed."""
        if alert_id not in self.open_alerts:
            raise NotFound(f"no unresolved alert {alert_id}")
        order_id, alert, last = self.open_alerts[alert_id]
        order = self.orders.get(order_id)
        event = step(alert)
        recipients = tuple(dict.fromkeys((*last.recipients, *add_recipients)))
        if order is None:  # the order has ended: still on record, still handled
            changes.events.append(dataclasses.replace(last, event=event, recipients=recipients))
            if event.alert.status == Status.RESOLVED:
                self.open_alerts.pop(alert_id, None)
            else:
                self.open_alerts[alert_id] = (order_id, event.alert, last)
            return event.alert
        order.recipients[alert_id] = recipients
        self._replace_alert(order, event.alert)
        self._publish(order, dataclasses.replace(last, event=event, recipients=recipients), changes)
        return event.alert

    def _handling_agency(self, recipients: tuple[str, ...]) -> Agency | None:
        """Whose escalation policy an alert follows: its police recipient's, else its first recipient's."""
        known = [self.agencies[r] for r in recipients if r in self.agencies]
        return next((a for a in known if a.kind == "police"), known[0] if known else None)

    def _escalations(self, now: datetime, changes: Changes) -> None:
        for alert_id, (order_id, alert, last) in list(self.open_alerts.items()):
            while due(alert, now):
                event = escalate(alert, now)
                alert = event.alert
                order = self.orders.get(order_id)
                routed = dataclasses.replace(last, event=event)
                if event.details.get("action") == "next_agency":
                    added = next_agencies(last.recipients, {a: x.escalate_to for a, x in self.agencies.items()})
                    from alerts.escalation import owner_after

                    # a police agency added to an alert no police agency owned takes its clock over
                    alert = dataclasses.replace(alert, owner=owner_after(
                        alert.owner, added, {a: x.kind for a, x in self.agencies.items()}))
                    event = dataclasses.replace(event, alert=alert, details={**event.details, "escalated_to": list(added)})
                    routed = dataclasses.replace(last, event=event, recipients=(*last.recipients, *added))
                    last = routed
                    if order is not None:
                        order.recipients[alert_id] = routed.recipients
                if order is None:
                    changes.events.append(routed)
                    self.open_alerts[alert_id] = (order_id, alert, last)
                else:
                    self._replace_alert(order, alert)
                    self._publish(order, routed, changes)

    def _recipients(self, order: OrderState, alert_id: str, where: tuple[float, float] | None) -> tuple[str, ...]:
        known = order.recipients.get(alert_id)
        if known is None:
            known = tuple(route(self.jurisdictions, order.spec.court_id, where, order.police))
            order.recipients[alert_id] = known
        return known


def _impossible_jump(previous: Fix, report: LocationReport, ts: datetime) -> bool:
    dt = (ts - previous.ts).total_seconds()
    if dt <= 0:
        return False
    allowed = MAX_SPEED_MPS * dt + previous.accuracy_m + report.acc_m
    if distance_bounds_m(previous.lat, previous.lon, report.lat, report.lon)[1] <= allowed:
        return False  # plainly possible: no need for the exact distance
    moved = party_distance_m(previous, Fix(report.lat, report.lon, report.acc_m, ts))
    return moved > allowed


def _zone_name(order: OrderState, zone_id: str) -> str:
    for z in order.spec.zones:
        if z.zone_id == zone_id:
            return z.name
    return zone_id


def _latest(changes: Changes, order_id: str) -> Alert | None:
    for ev in reversed(changes.events):
        if ev.event.alert.order_id == order_id:
            return ev.event.alert
    return None


def zone_anchor(zone: ZoneSpec) -> tuple[float, float]:
    """A (lat, lon) inside or on the zone: its centre, or its first vertex."""
    coords = zone.geometry["coordinates"]
    while isinstance(coords[0], list):
        coords = coords[0]
    return float(coords[1]), float(coords[0])


def _where(fix: Fix | None) -> tuple[float, float] | None:
    return (fix.lat, fix.lon) if fix is not None else None


def _anchor_of(spec: OrderSpec) -> tuple[float, float] | None:
    return zone_anchor(spec.zones[0]) if spec.zones else None
