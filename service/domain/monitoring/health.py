"""Device conditions (tamper, battery, no fix, silence, a clone), one alert per episode, with storm
control (``alerts.policy``: changes folded into one ``updated`` at most every ``UPDATE_EVERY_S``), the
silence watchdog, and the system's close of a safe condition that stayed ended (pure)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from alerts import Kind, Status, breach_started
from alerts.lifecycle import SYSTEM, resolve
from alerts.model import Outcome
from alerts.policy import FLAP_MERGE_S, condition_changed, flip_allowed
from service.wire import StatusReport

from . import links
from .outcomes import emit_health
from .quality import effective_ts, fresh_for_s
from .state import AUTO_CLOSE_KINDS, Changes, HealthEpisode, OrderState

if TYPE_CHECKING:
    from .monitor import Monitor

BATTERY_LOW_PCT = 15  # at or below this, not charging: battery_low
BATTERY_OK_PCT = 25  # the condition ends at or above this, or when charging
HEALTH_CLOSE_AFTER_S = 60.0  # an ended device condition stays ended this long before the system closes it

Key = tuple[str, Kind]


def seen(m: Monitor, dev: str, received_at: datetime, ts: datetime, now: datetime, changes: Changes) -> None:
    """A message of ``dev`` arrived: a device it replaced is released, and it is no longer silent."""
    links.end_handover(m, dev)
    last = m.last_seen.get(dev)
    if last is None or received_at > last:
        m.last_seen[dev] = received_at
    end(m, dev, Kind.SIGNAL_LOST, ts, now, changes, "message_received")


def status(m: Monitor, report: StatusReport, now: datetime, changes: Changes) -> None:
    """Device health (contract section 1, status): tamper, battery, GPS without a fix."""
    dev, ts = report.device_id, effective_ts(report)
    if "seq_conflict" in report.flags:  # its seq was used by another status with other content: a clone
        raise_(m, dev, Kind.DEVICE_CLONED, ts, now, changes, {"seq": report.seq})
    seen(m, dev, report.received_at, ts, now, changes)
    for field_name, kind in (("strap", Kind.STRAP_TAMPER), ("case", Kind.CASE_TAMPER)):
        value = getattr(report, field_name)
        if value == "open":
            raise_(m, dev, kind, ts, now, changes, {field_name: "open"})
        elif value == "closed":  # the condition ends; a tamper alert stays open until a person resolves it
            end(m, dev, kind, ts, now, changes, f"{field_name}_closed")
    if report.batt_pct is not None or report.charging is not None:
        battery(m, dev, report.batt_pct, report.charging, ts, now, changes)
    if report.gps == "no_fix":
        raise_(m, dev, Kind.LOCATION_LOST, ts, now, changes, {"gps": "no_fix"})


def battery(m: Monitor, dev: str, pct: int | None, charging: bool | None, ts: datetime, now: datetime,
            changes: Changes) -> None:
    if charging or (pct is not None and pct >= BATTERY_OK_PCT):
        end(m, dev, Kind.BATTERY_LOW, ts, now, changes, "charging" if charging else "battery_ok")
    elif pct is not None and pct <= BATTERY_LOW_PCT:
        raise_(m, dev, Kind.BATTERY_LOW, ts, now, changes, {"batt": pct})


def raise_(m: Monitor, dev: str, kind: Kind, ts: datetime, now: datetime, changes: Changes,
           details: dict[str, Any], only: OrderState | None = None) -> None:
    """The condition is on, in every order of the device (or ``only`` that one) still in force."""
    for order_id, role in m.roles_of(dev):
        order = m.orders[order_id]
        if (only is not None and order is not only) or order.ending is not None:
            continue
        key = (dev, kind)
        alert = order.get(order.health.get(key))
        if alert is not None and alert.status == Status.RESOLVED:
            if active(order, key):
                continue  # a person closed it while the condition was on: not raised again until it ends
            forget(order, key)
            alert = None
        if alert is not None:  # the same episode: the condition is back
            _flip(m, order, key, True, ts, now, changes, {**details, "device_id": dev, "role": role})
            continue
        event = breach_started(m.new_id(), order_id, None, ts, now, False,
                               {**details, "device_id": dev, "role": role}, kind=kind, device_id=dev)
        order.health[key] = order.hold(event.alert)
        order.episodes_health[key] = HealthEpisode()
        emit_health(m, order, event, changes)


def end(m: Monitor, dev: str, kind: Kind, ts: datetime, now: datetime, changes: Changes, reason: str) -> None:
    """The condition is over, in every order of the device."""
    for order_id, role in m.roles_of(dev):
        order = m.orders[order_id]
        key = (dev, kind)
        alert = order.get(order.health.get(key))
        if alert is None:
            continue
        if alert.status == Status.RESOLVED:  # a person closed it; its condition is over too
            forget(order, key)
            continue
        _flip(m, order, key, False, ts, now, changes, {"reason": reason, "device_id": dev, "role": role})


def active(order: OrderState, key: Key) -> bool:
    episode = order.episodes_health.get(key)
    return key in order.health and (episode is None or episode.active)


def forget(order: OrderState, key: Key) -> None:
    order.release(order.health.pop(key, None))
    order.episodes_health.pop(key, None)


def _flip(m: Monitor, order: OrderState, key: Key, on: bool, ts: datetime, now: datetime, changes: Changes,
          details: dict[str, Any]) -> None:
    """A device condition ends or comes back: published now, or (storm control) folded into the
    next ``updated`` that :func:`tick` publishes once ``UPDATE_EVERY_S`` has passed."""
    held = order.alerts[order.health[key]]
    episode = order.episodes_health.setdefault(key, HealthEpisode(active=held.condition_active))
    if episode.active == on:
        return
    episode.active, episode.report_ts, episode.details = on, ts, details
    episode.ended_at = None if on else now
    episode.flips += 1
    if flip_allowed(episode.last_flip_at, now):
        _publish_flip(m, order, key, now, changes)


def _publish_flip(m: Monitor, order: OrderState, key: Key, now: datetime, changes: Changes) -> None:
    episode, alert = order.episodes_health[key], order.alerts[order.health[key]]
    assert episode.report_ts is not None
    event = condition_changed(alert, episode.active, episode.report_ts, now, episode.details, episode.flips)
    episode.flips, episode.last_flip_at = 0, now
    order.replace(event.alert)
    emit_health(m, order, event, changes)


def watchdog(m: Monitor, now: datetime, changes: Changes, listening_since: datetime | None) -> None:
    """A device with no message for more than 3 x its interval + 10 s is ``signal_lost`` (the clock is
    the server's: a silent device sends no time of its own). ``listening_since``: when ingest last
    (re)connected; silence before it is ours, not the device's."""
    for order in m.orders.values():
        if order.ending is not None:  # ended: a silent tracker is no longer a condition
            continue
        for party in order.spec.parties():
            dev = party.device_id
            if not dev:
                continue
            last = m.last_seen.get(dev) or order.monitoring_since
            if last is not None and listening_since is not None:
                last = max(last, listening_since)
            if last is None or active(order, (dev, Kind.SIGNAL_LOST)):
                continue
            silent_s = (now - last).total_seconds()
            if silent_s > fresh_for_s(party.report_interval_s):
                raise_(m, dev, Kind.SIGNAL_LOST, last, now, changes, {"silent_s": round(silent_s, 1)}, only=order)


def tick(m: Monitor, now: datetime, changes: Changes) -> None:
    """Publish device-condition changes held back by storm control; close a safe condition that has
    stayed ended for ``health_close_after_s``; stop merging into a tamper alert ended long ago."""
    for order in m.orders.values():
        for key, episode in list(order.episodes_health.items()):
            alert = order.alerts[order.health[key]]
            if alert.status == Status.RESOLVED:
                if not episode.active:
                    forget(order, key)
                continue
            if episode.flips and flip_allowed(episode.last_flip_at, now):
                _publish_flip(m, order, key, now, changes)
                alert = order.alerts[order.health[key]]
            if episode.active or episode.flips or episode.ended_at is None:
                continue
            ended_s = (now - episode.ended_at).total_seconds()
            if key[1] in AUTO_CLOSE_KINDS and ended_s >= m.health_close_after_s:
                closed = resolve(alert, SYSTEM, now, Outcome.CONDITION_ENDED, None)
                forget(order, key)
                emit_health(m, order, closed, changes)
            elif key[1] not in AUTO_CLOSE_KINDS and ended_s >= FLAP_MERGE_S:
                forget(order, key)  # stays open for a person; a new opening is a new alert
