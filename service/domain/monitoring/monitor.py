"""The monitor: one per ingest loop, every order's state in memory, and the handlers that fold reports
in (pure). It is rebuilt from the database on start and after a failed commit (:meth:`Monitor.restore`),
so the database stays the truth and this is its hot copy. Handlers return :class:`Changes`; the unit of
work persists them in the same transaction as the reports that caused them. The work is done in the
package's rooms; this reads as the steps each message takes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from alerts import Alert, AlertEvent, JurisdictionIndex, Kind
from alerts.routing import Agency
from geofence import FrameCache
from service.domain import ends
from service.domain.directory import Directory
from service.domain.orders import OrderSpec
from service.domain.responsibility import responsible_police
from service.wire import LocationReport, PanicPress, StatusReport

from . import (
    fixed_zones,
    health,
    links,
    notices,
    order_clock,
    outcomes,
    panic,
    proximity,
    quality,
)
from .restore import StoredState, restore
from .state import Changes, OrderState, RoutedEvent


class Monitor:
    def __init__(self, frames: FrameCache, directory: Directory, new_id: Callable[[], str]) -> None:
        self.frames = frames
        self.directory = directory  # the process's one agency directory (shared with the outbound planner)
        self.new_id = new_id
        self.orders: dict[str, OrderState] = {}
        self.devices: dict[str, list[tuple[str, str]]] = {}  # device -> (order id, role) it reports for
        self.last_ts: dict[str, datetime] = {}  # device -> latest effective time evaluated live (never ahead of receipt)
        self.live_seq: dict[str, int] = {}  # device -> highest seq seen in a recent (live) report
        self.last_seen: dict[str, datetime] = {}  # device -> receive time of its latest message (watchdog)
        # every unresolved alert: (order id, its latest value, its latest routed event: recipients, fixes, zone)
        self.open_alerts: dict[str, tuple[str, Alert, RoutedEvent]] = {}
        self.escalation_policies: dict[str, object] = {}  # kind or severity -> steps (settings); else defaults
        self.health_close_after_s = health.HEALTH_CLOSE_AFTER_S
        self.owntracks: dict[str, str] = {}  # owntracks/{user}/{device} -> the enrolled device id it stands for
        self.order_clock_due: datetime | None = None  # nothing in the orders' clock before this; None: unknown
        self.reminder_days: tuple[int, ...] = ends.REMINDER_DAYS  # expiry reminders, days before the end
        self.grace: timedelta = ends.GRACE  # after an order's end her panic still reaches police this long
        self.legal_profile: str | None = None  # STAYAWAY_LEGAL_PROFILE: courts whose agency names none

    @property
    def agencies(self) -> dict[str, Agency]:
        return self.directory.agencies

    @property
    def jurisdictions(self) -> JurisdictionIndex:
        return self.directory.jurisdictions

    # -- orders ----------------------------------------------------------------------------------
    def load_order(self, spec: OrderSpec, now: datetime | None = None,
                   earlier: Sequence[tuple[datetime, OrderSpec]] = (), effective_from: datetime | None = None
                   ) -> OrderState:
        """``earlier``: the order's previous versions with the time each took effect, and
        ``effective_from`` the current one's: a report is checked against the zones in force at its time."""
        self.remove_order(spec.order_id)
        frame = self.frames.frame_for(*fixed_zones.zone_anchor(spec.zones[0])) if spec.zones else None
        state = fixed_zones.compiled(spec, frame, earlier, effective_from, now, self.responsible(spec))
        self.order_clock_due = None  # an order came: the next deadline is looked for again
        self.orders[spec.order_id] = state
        links.link(self, spec)
        return state

    def restore(self, stored: StoredState) -> None:
        """The state the database holds (``service.state.rebuild`` reads it)."""
        restore(self, stored)

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
            self.order_clock_due = None

    def remove_order(self, order_id: str) -> None:
        removed = self.orders.pop(order_id, None)
        if removed is not None:
            links.unlink(self, removed.spec)

    def add_handover(self, order_id: str, old_device: str, role: str) -> None:
        links.add_handover(self, order_id, old_device, role)

    def roles_of(self, device_id: str) -> list[tuple[str, str]]:
        return self.devices.get(device_id, [])

    # -- messages --------------------------------------------------------------------------------
    def on_location(self, report: LocationReport, now: datetime, changes: Changes) -> bool:
        """Fold one new report in; False when it was only checked against history (an old report behind
        what was evaluated: ``quality.is_history``). A recent report is always checked live, in the order
        it arrived; a clock ahead never moves the device's clock (``quality``)."""
        dev, ts = report.device_id, quality.effective_ts(report)
        if quality.is_history(self, report, ts):
            self._history(report, ts, now, changes)
            return False
        flags = quality.live_flags(self, report, ts)
        fix = quality.fix_of(report, ts, flags)
        health.seen(self, dev, report.received_at, ts, now, changes)
        health.end(self, dev, Kind.LOCATION_LOST, ts, now, changes, "valid_fix")
        if report.batt_pct is not None:
            health.battery(self, dev, report.batt_pct, None, ts, now, changes)
        for order_id, role in self.roles_of(dev):
            order = self.orders[order_id]
            if order.ending is not None:  # ended, in its grace: kept as evidence, checked no more
                continue
            retro = quality.lateness(order, role, report, ts, flags)
            hold = "impossible_jump" in flags  # a glitch or a clone: it may raise, never end or reset (geofence.step)
            if role == "victim":
                order.victim_fix = fix
            else:
                previous, order.respondent_fix = order.respondent_fix, fix
                fixed_zones.check(self, order, fix, previous, now, changes, retro, hold)
            proximity.check(self, order, now, changes, retro, hold)
            notices.pursuit(self, order, changes)
        if "two_sources" in flags or "seq_conflict" in report.flags:  # someone else publishes as this device
            # (a seq below a live one, or a seq already used with other content): routed where this fix is
            health.raise_(self, dev, Kind.DEVICE_CLONED, ts, now, changes, {"seq": report.seq})
        if flags:
            quality.flag(report, changes, *flags)
        return True

    def _history(self, report: LocationReport, ts: datetime, now: datetime, changes: Changes) -> None:
        if "seq_conflict" in report.flags:  # its seq was used by another report with other content: a clone
            health.raise_(self, report.device_id, Kind.DEVICE_CLONED, ts, now, changes, {"seq": report.seq})
        quality.flag(report, changes, "out_of_order")
        for order_id, role in self.roles_of(report.device_id):
            if role == "respondent" and self.orders[order_id].ending is None:
                fixed_zones.check_old(self, self.orders[order_id], report, now, changes)

    def on_status(self, status: StatusReport, now: datetime, changes: Changes) -> None:
        """Device health (contract section 1, status): tamper, battery, GPS without a fix."""
        health.status(self, status, now, changes)

    def on_panic(self, press: PanicPress, now: datetime, changes: Changes) -> None:
        """A panic press is always raised: a bad or implausible time is replaced by its receive time."""
        panic.pressed(self, press, now, changes)

    def on_tick(self, now: datetime, changes: Changes, listening_since: datetime | None = None) -> None:
        """The silence watchdog (``health.watchdog``: the detector; an MQTT Last Will would only be a
        hint), the orders' clock, held-back device-condition changes, then the escalation clock."""
        health.watchdog(self, now, changes, listening_since)
        order_clock.tick(self, now, changes)
        health.tick(self, now, changes)
        outcomes.escalations(self, now, changes)

    def act(self, alert_id: str, step: Callable[[Alert], AlertEvent], changes: Changes,
            add_recipients: tuple[str, ...] = ()) -> Alert:
        """Apply a lifecycle step (``alerts.lifecycle``) to an unresolved alert; raises ``NotFound`` when there
        is none with that id, ``LifecycleError`` when the step is not allowed."""
        return outcomes.act(self, alert_id, step, changes, add_recipients)
