"""Per-order monitoring state and what each report changes (pure, in memory).

The ingest loop owns one :class:`Monitor`. It is rebuilt from the database on
start (and after a failed commit), so the database stays the truth and this is
its hot, in-memory copy. Handlers return :class:`Change` values; the unit of
work persists them in the same transaction as the reports that caused them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from alerts import Alert, AlertEvent, JurisdictionIndex, breach_continues, breach_ended, breach_started
from alerts import panic_pressed, route
from geofence import CompiledZone, Fix, FrameCache, LocalFrame, Reach, Rules, ZoneState, compile_zone, evaluate
from service.domain.orders import OrderSpec, ZoneSpec
from service.wire import LocationReport, PanicPress

DEFAULT_EXIT_MARGIN_M = 50.0
_CLOCK_FLAGS = frozenset({"ts_future", "ts_implausible"})


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


@dataclass(slots=True)
class OrderState:
    spec: OrderSpec
    frame: LocalFrame | None
    zones: list[CompiledZone]
    rules: Rules
    reach: Reach | None = None  # fixes outside it are farther than the exit margin from every zone
    membership: dict[str, ZoneState] = field(default_factory=dict)
    breach_alerts: dict[str, Alert] = field(default_factory=dict)  # zone_id -> alert of the open episode
    recipients: dict[str, tuple[str, ...]] = field(default_factory=dict)  # alert_id -> agencies
    panic_alert: Alert | None = None
    respondent_fix: Fix | None = None
    victim_fix: Fix | None = None


class Monitor:
    def __init__(self, frames: FrameCache, jurisdictions: JurisdictionIndex, new_id: Callable[[], str]) -> None:
        self.frames = frames
        self.jurisdictions = jurisdictions
        self.new_id = new_id
        self.orders: dict[str, OrderState] = {}
        self.devices: dict[str, list[tuple[str, str]]] = {}
        self.last_ts: dict[str, datetime] = {}

    # -- loading -------------------------------------------------------------
    def load_order(self, spec: OrderSpec) -> OrderState:
        self.remove_order(spec.order_id)
        frame = self.frames.frame_for(*zone_anchor(spec.zones[0])) if spec.zones else None
        zones = [compile_zone(z.zone_id, z.kind, z.name, z.geometry, z.radius_m, frame) for z in spec.zones] if frame else []
        margin = spec.exit_margin_m if spec.exit_margin_m is not None else DEFAULT_EXIT_MARGIN_M
        reach = Reach.around(((z.geometry, z.radius_m) for z in spec.zones), margin) if spec.zones else None
        state = OrderState(spec, frame, zones, Rules(exit_margin_m=margin), reach)
        self.orders[spec.order_id] = state
        for party in spec.parties():
            if party.device_id:
                self.devices.setdefault(party.device_id, []).append((spec.order_id, party.role))
        return state

    def remove_order(self, order_id: str) -> None:
        if self.orders.pop(order_id, None) is None:
            return
        for device_id in list(self.devices):
            links = [link for link in self.devices[device_id] if link[0] != order_id]
            if links:
                self.devices[device_id] = links
            else:
                del self.devices[device_id]

    def roles_of(self, device_id: str) -> list[tuple[str, str]]:
        return self.devices.get(device_id, [])

    # -- handlers ------------------------------------------------------------
    def on_location(self, report: LocationReport, now: datetime, changes: Changes) -> bool:
        """Fold one new report in; False when it is older than what was already evaluated (late).

        A report whose device time is implausible (flagged ``ts_future``/``ts_implausible``: a
        clock reset to 1901, a clock days ahead) is placed at its receive time, so a broken
        clock can neither hide later reports as "late" nor be skipped itself."""
        ts = report.received_at if _CLOCK_FLAGS.intersection(report.flags) else report.ts
        last = self.last_ts.get(report.device_id)
        if last is not None and ts < last:
            return False
        self.last_ts[report.device_id] = ts
        fix = Fix(report.lat, report.lon, report.acc_m, ts)
        for order_id, role in self.roles_of(report.device_id):
            order = self.orders[order_id]
            if role == "victim":
                order.victim_fix = fix
            else:
                order.respondent_fix = fix
                self._check_zones(order, fix, now, changes)
        return True

    def on_panic(self, press: PanicPress, now: datetime, changes: Changes) -> None:
        for order_id, role in self.roles_of(press.device_id):
            if role != "victim":
                continue
            order = self.orders[order_id]
            here = Fix(press.lat, press.lon, press.acc_m, press.ts) if press.lat is not None else None  # type: ignore[arg-type]
            victim_fix = here or order.victim_fix
            details = {"silent": press.silent, "press_seq": press.seq, "flags": list(press.flags)}
            event = panic_pressed(order.panic_alert, self.new_id(), order_id, press.ts, now, details)
            order.panic_alert = event.alert
            where = _where(victim_fix) or _where(order.respondent_fix) or _anchor_of(order.spec)
            recipients = self._recipients(order, event.alert.alert_id, where)
            changes.events.append(RoutedEvent(event, recipients, order.respondent_fix, victim_fix))

    # -- zone logic ----------------------------------------------------------
    def _check_zones(self, order: OrderState, fix: Fix, now: datetime, changes: Changes) -> None:
        if order.frame is None:
            return
        if order.reach is not None and not order.reach.holds(fix.lat, fix.lon) and not order.breach_alerts \
                and not any(s.inside for s in order.membership.values()):
            return  # far from every zone and inside none: nothing can change
        result = evaluate(fix, order.frame, order.zones, order.membership, order.rules)
        order.membership = result.states
        specs = {z.zone_id: z for z in order.spec.zones}
        entered = {t.zone_id for t in result.transitions if t.kind == "enter"}
        for t in result.transitions:
            # distance_m is never negative: metres into the zone while inside, metres outside it once ended
            zone, depth = specs[t.zone_id], abs(t.distance_m)
            details = {"depth_m": round(depth, 1)}
            if t.kind == "enter":
                event = breach_started(self.new_id(), order.spec.order_id, t.zone_id, fix.ts, now, False, details)
                order.breach_alerts[t.zone_id] = event.alert
                alert_id = event.alert.alert_id
            else:
                alert = order.breach_alerts.pop(t.zone_id, None)
                alert_id = None
                event = breach_ended(alert, fix.ts, now, details) if alert is not None else None
            changes.membership.append(MembershipChange(order.spec.order_id, t.zone_id, result.states[t.zone_id], alert_id))
            if event is not None:
                self._emit(order, event, fix, zone, depth, changes)
        for zone_id, alert in list(order.breach_alerts.items()):
            if zone_id not in result.states:  # the court removed this zone from the order
                del order.breach_alerts[zone_id]
                ended = breach_ended(alert, fix.ts, now, {"reason": "zone_removed"})
                self._emit(order, ended, fix, None, None, changes)
                continue
            if zone_id in entered or not result.states[zone_id].inside:
                continue
            depth = max(0.0, -result.distances_m[zone_id])
            update = breach_continues(alert, fix.ts, now, {"depth_m": round(depth, 1)})
            if update is not None:
                order.breach_alerts[zone_id] = update.alert
                self._emit(order, update, fix, specs[zone_id], depth, changes)

    def _emit(self, order: OrderState, event: AlertEvent, fix: Fix, zone: ZoneSpec | None, depth: float | None,
              changes: Changes) -> None:
        recipients = self._recipients(order, event.alert.alert_id, (fix.lat, fix.lon))
        changes.events.append(RoutedEvent(event, recipients, fix, None, zone, None if depth is None else round(depth, 1)))

    def _recipients(self, order: OrderState, alert_id: str, where: tuple[float, float] | None) -> tuple[str, ...]:
        known = order.recipients.get(alert_id)
        if known is None:
            known = tuple(route(self.jurisdictions, order.spec.court_id, where))
            order.recipients[alert_id] = known
        return known


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
