"""What a report is worth: its time, its accuracy, whether it is late, out of order or a jump, and
the flags that say so where it is stored (pure).

Device time is evidence, receive time is order (docs/architecture.md, "Time"):

* a report whose device time is implausible (flagged ``ts_future``: ahead of the server's clock by more
  than the decoder's tolerance; ``ts_implausible``: a clock reset to 1901) is placed at its receive
  time, so a forged or broken clock can't move the device's clock;
* a *recent* report (received within ``LIVE_WINDOW_S`` of its time) is always checked live, in the
  order it arrived, even when another report of the device claimed a later time: a second connection
  dating reports ahead can't turn his real breach into history;
* only an *old* report behind what was evaluated (a buffer, a backlog) is checked on its own against
  history (``fixed_zones.check_old``);
* a recent report whose seq is below one already seen live came from a second source publishing as
  this device: flagged ``two_sources`` (and ``out_of_order`` when its time is behind)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from geofence import Fix, party_distance_m
from geofence.engine import distance_bounds_m
from service.wire import LocationReport, PanicPress, StatusReport

from .state import Changes, OrderState

if TYPE_CHECKING:
    from .monitor import Monitor

POOR_ACCURACY_M = 500.0  # a fix this vague (a cell tower) never confirms a breach on its own
MAX_SPEED_MPS = 70.0  # faster than this between two fixes (beyond both accuracy radii) is a jump
LATE_AFTER_MIN_S = 120.0  # a report received later than max(this, 3 x interval + 10 s) after its time is late
_CLOCK_FLAGS = frozenset({"ts_future", "ts_implausible"})
LIVE_WINDOW_S = LATE_AFTER_MIN_S  # a report received within this of its (effective) time is checked live


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


def is_history(m: Monitor, report: LocationReport, ts: datetime) -> bool:
    """An *old* report behind what was evaluated for its device (a buffer, a backlog): checked on its
    own against history. A *recent* one (received within ``LIVE_WINDOW_S`` of its time) is always live."""
    last = m.last_ts.get(report.device_id)
    return last is not None and ts < last and (report.received_at - ts).total_seconds() > LIVE_WINDOW_S


def live_flags(m: Monitor, report: LocationReport, ts: datetime) -> list[str]:
    """The flags of a report checked live (``out_of_order``, ``two_sources``, ``poor_accuracy``,
    ``impossible_jump``); moves the device's clock and its highest live seq."""
    dev = report.device_id
    last = m.last_ts.get(dev)
    behind = last is not None and ts < last
    flags: list[str] = ["out_of_order"] if behind else []
    if (report.received_at - ts).total_seconds() <= LIVE_WINDOW_S and "backfill" not in report.flags:
        top = m.live_seq.get(dev)
        if top is not None and report.seq < top:
            flags.append("two_sources")  # a seq below one seen live: a second source publishes as this device
        else:
            m.live_seq[dev] = report.seq
    if not behind:
        m.last_ts[dev] = min(ts, report.received_at)  # a clock ahead never moves his clock forward
    if is_poor(report.acc_m, report.src):
        flags.append("poor_accuracy")
    for order_id, role in m.roles_of(dev):
        order = m.orders[order_id]
        previous = order.victim_fix if role == "victim" else order.respondent_fix
        if previous is not None and "impossible_jump" not in flags and impossible_jump(previous, report, ts):
            flags.append("impossible_jump")
    return flags


def fix_of(report: LocationReport, ts: datetime, flags: list[str]) -> Fix:
    return Fix(report.lat, report.lon, report.acc_m, ts, report.spd_mps, report.hdg_deg, "poor_accuracy" in flags)


def lateness(order: OrderState, role: str, report: LocationReport, ts: datetime, flags: list[str]) -> bool:
    """Flags the report ``late`` for this order's party when it is; True when it is retroactive (a
    buffer uploaded after being offline: evidence, raised with ``retroactive: true``)."""
    interval = (order.spec.victim if role == "victim" else order.spec.respondent).report_interval_s
    late = (report.received_at - ts).total_seconds() > max(LATE_AFTER_MIN_S, fresh_for_s(interval))
    if late and "late" not in flags:
        flags.append("late")
    return late and "backfill" in report.flags


def impossible_jump(previous: Fix, report: LocationReport, ts: datetime) -> bool:
    dt = (ts - previous.ts).total_seconds()
    if dt <= 0:
        return False
    allowed = MAX_SPEED_MPS * dt + previous.accuracy_m + report.acc_m
    if distance_bounds_m(previous.lat, previous.lon, report.lat, report.lon)[1] <= allowed:
        return False  # plainly possible: no need for the exact distance
    moved = party_distance_m(previous, Fix(report.lat, report.lon, report.acc_m, ts))
    return moved > allowed


def flag(report: LocationReport, changes: Changes, *flags: str) -> None:
    key = (report.device_id, report.seq)
    known = changes.flags.get(key, report.flags)
    changes.flags[key] = tuple(dict.fromkeys((*known, *flags)))
