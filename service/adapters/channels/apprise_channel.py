"""SMS, e-mail and chat through Apprise URLs configured per agency, and the text people read there.

These messages pass through third parties (SMS gateways, mail and chat
providers) and stay on phones and in mailboxes, so ``human_text`` decides what
may appear (docs/protocol.md):

- never the victim's position: the ``victim`` block is not read at all;
- the respondent's position only for police (``police=True``), as plain
  ``lat, lon`` with 5 decimals (about 1 m) and no map link, and only when it
  cannot locate the victim: not for ``panic`` and ``proximity`` alerts (there the
  respondent is near the victim by definition, or likely) nor for any message
  carrying a victim block. Those texts point to the console instead;
- distances in whole metres, the zone's name and kind (zone names must not be
  addresses), ids, times, and the retroactive flag; nothing else.

``AppriseSender`` tries each URL once per call and reports one ``Attempt`` per
URL (``target`` is the URL with its secrets masked by Apprise); retrying is the
caller's, for the failed URLs only, so a phone that got the SMS does not get it
twice. Apprise reports success or failure but no status code: ``status_code`` is
always None and ``error`` carries Apprise's own warning (never the message text).

``AppriseNotifier`` is that caller: the queue of ``channels.retrying`` (most
urgent first, back-off, no expiry) over ``AppriseSender``, retrying only the URLs
that failed. ``load_agency_urls`` reads an Apprise configuration file (its TEXT
or YAML format) whose URLs are tagged with agency ids: the tokens and passwords
in those URLs stay in that file, never in the database or the agencies file.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import apprise

from service.adapters.channels import Attempt
from service.adapters.channels.retrying import RetryingSender, backoff_s

LABEL = {"zone_breach": "Zone breach", "proximity": "Proximity", "pre_alert": "Pre-alert", "panic": "PANIC",
         "strap_tamper": "Strap tamper", "case_tamper": "Case tamper", "battery_low": "Battery low",
         "signal_lost": "Signal lost", "location_lost": "Location lost",
         "victim_signal_lost": "Victim's phone silent", "device_cloned": "Two devices report as one"}
NEAR_VICTIM_KINDS = frozenset({"panic", "proximity"})
NOTIFY_TYPE = {"critical": "failure", "high": "warning", "warning": "warning"}  # Apprise's colour and icon
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
log = logging.getLogger(__name__)


def apprise_type(alert_message: Mapping[str, Any]) -> str:
    """Apprise's ``notify_type`` for an alert message: ``success`` once resolved, else by severity."""
    if alert_message.get("event") == "resolved":
        return "success"
    return NOTIFY_TYPE.get(str(alert_message.get("severity")), "warning")


def human_text(alert_message: Mapping[str, Any], *, police: bool = False) -> tuple[str, str]:
    """(title, body) for an alert message (contract section 2). Pure. ``police``: the recipient is a
    police agency, the only one that may read the respondent's position (see the module docstring)."""
    m = alert_message
    kind = str(m.get("kind", ""))
    label = LABEL.get(kind, _clean(kind) or "Alert")
    title = f"{str(m.get('severity', '')).upper()} {label} {_clean(m.get('event'))}: order {_clean(m.get('order_id'))}"
    lines = [f"{label}, {_clean(m.get('event'))}; status {_clean(m.get('status'))}"
             + ("" if m.get("condition", "active") == "active" else ", condition ended")]
    zone = m.get("zone")
    if isinstance(zone, Mapping):
        lines.append(f"Zone: {_clean(zone.get('name'))} ({_clean(zone.get('kind'))})")
    lines += _measures(m, kind)
    if m.get("device_id"):
        lines.append(f"Device: {_clean(m['device_id'])}")
    if kind == "panic":
        lines.append("Silent panic" if m.get("silent") else "Audible panic")
    lines += _respondent(m, kind, police)
    lines.append(f"Occurred {_clean(m.get('occurred_at'))}, sent {_clean(m.get('at'))}")
    if m.get("retroactive"):
        lines.append("LATE DATA: evidence of a past event, not a live dispatch")
    lines.append(f"Alert {_clean(m.get('alert_id'))}, event {_clean(m.get('event_id'))}")
    return title, "\n".join(lines)


def _measures(m: Mapping[str, Any], kind: str) -> list[str]:
    out = []
    if isinstance(m.get("distance_m"), int | float):
        what = {"proximity": " between the parties", "zone_breach": " into the zone", "pre_alert": " to the zone"}
        out.append(f"Distance{what.get(kind, '')}: {m['distance_m']:.0f} m")
    if isinstance(m.get("min_distance_m"), int | float):
        out.append(f"Closest approach: {m['min_distance_m']:.0f} m")
    if isinstance(m.get("eta_s"), int | float):
        out.append(f"Could reach the zone in about {m['eta_s']:.0f} s")
    if m.get("crossed"):
        out.append("Drove through the zone")
    if m.get("confidence") == "possible":
        out.append("Possible (poor accuracy), not confirmed")
    return out


def _respondent(m: Mapping[str, Any], kind: str, police: bool) -> list[str]:
    fix = m.get("respondent")
    if not police or not isinstance(fix, Mapping):
        return []
    if kind in NEAR_VICTIM_KINDS or "victim" in m:
        return ["Positions: on the stayaway console only"]
    lat, lon, acc = fix.get("lat"), fix.get("lon"), fix.get("acc")
    if not (isinstance(lat, int | float) and isinstance(lon, int | float)):
        return []
    accuracy = f" (±{acc:.0f} m)" if isinstance(acc, int | float) else ""
    return [f"Respondent at {lat:.5f}, {lon:.5f}{accuracy}"]


def _clean(value: Any, limit: int = 80) -> str:
    """One line of at most ``limit`` characters: names come from imported files."""
    return _CONTROL.sub(" ", "" if value is None else str(value)).strip()[:limit]


class AppriseSender:
    """``notify`` sends to each Apprise URL in turn (blocking: run it on a worker thread)."""

    def __init__(self, on_attempt: Callable[[Attempt], None], clock: Callable[[], datetime],
                 asset: apprise.AppriseAsset | None = None) -> None:
        self.on_attempt, self.clock = on_attempt, clock
        self.asset = asset
        apprise.Apprise.instantiate("json://localhost")  # loads every plugin now (~0.2 s), not on the first alert

    def notify(self, urls: list[str], title: str, body: str, *, delivery_id: int = 0, attempt_no: int = 1,
               notify_type: str = "warning") -> bool:
        """True if every URL accepted the message."""
        return not self.deliver(urls, title, body, delivery_id=delivery_id, attempt_no=attempt_no,
                                notify_type=notify_type)

    def deliver(self, urls: list[str], title: str, body: str, *, delivery_id: int = 0, attempt_no: int = 1,
                notify_type: str = "warning") -> list[str]:
        """The URLs that did not accept the message (to try again later, and only those)."""
        failed = []
        for url in urls:
            at, started = self.clock(), time.perf_counter()
            target, error = self._send(url, title, body, notify_type)
            attempt = Attempt(delivery_id, attempt_no, at, None, error, (time.perf_counter() - started) * 1000.0,
                              target=target)
            try:
                self.on_attempt(attempt)
            except Exception:  # the caller's bookkeeping must not stop the other URLs
                log.exception("apprise attempt callback failed")
            if error is not None:
                failed.append(url)
        return failed

    def _send(self, url: str, title: str, body: str, notify_type: str) -> tuple[str | None, str | None]:
        plugin = apprise.Apprise.instantiate(url, asset=self.asset)
        if plugin is None:
            return None, "not a valid or supported Apprise URL"
        target = plugin.url(privacy=True)
        with _warnings() as warnings:
            try:
                ok = plugin.notify(body=body, title=title, notify_type=notify_type,
                                   body_format=apprise.NotifyFormat.TEXT)
            except Exception as exc:  # a plugin's bug must not stop the other URLs
                log.exception("Apprise plugin for %s failed", target)
                return target, f"{type(exc).__name__} in the Apprise plugin"
        return target, None if ok else ("; ".join(warnings) or "Apprise reported a failure")[:300]


class _ThreadWarnings(logging.Handler):
    """Apprise's warnings logged by one thread (other threads may be notifying at the same time)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.messages.append(record.getMessage())


@contextmanager
def _warnings() -> Iterator[list[str]]:
    handler = _ThreadWarnings()
    logger = logging.getLogger("apprise")
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)


def load_agency_urls(path: str | Path) -> dict[str, tuple[str, ...]]:
    """Agency id -> its Apprise URLs, from an Apprise configuration file whose URLs are tagged with agency
    ids (``police-west=json://...``, or ``tag:`` in YAML). ValueError if the file can't be read or holds
    no URL; a line Apprise can't load is logged by Apprise (secrets masked) and left out."""
    config = apprise.AppriseConfig()
    if not Path(path).is_file() or not config.add(str(path)):
        raise ValueError(f"cannot read the Apprise configuration {path}")
    servers = apprise.Apprise()
    servers.add(config)
    out: dict[str, list[str]] = {}
    for server in servers:  # reading the file happens here
        for tag in server.tags:
            out.setdefault(str(tag), []).append(server.url(privacy=False))
    if not out:
        raise ValueError(f"the Apprise configuration {path} holds no URL tagged with an agency id")
    return {agency: tuple(urls) for agency, urls in out.items()}


@dataclass(frozen=True, slots=True)
class Notification:
    """One alert message for one agency's Apprise URLs; ``id`` is the caller's delivery id."""

    id: int
    urls: tuple[str, ...] = field(repr=False)  # carry tokens and passwords: kept out of reprs and logs
    title: str = field(repr=False)
    body: str = field(repr=False)
    event_id: str
    priority: int = 0
    notify_type: str = "warning"


class AppriseNotifier(RetryingSender):
    """Sends :class:`Notification`s through :class:`AppriseSender`, most urgent first; the URLs that
    failed are tried again after a back-off (1 s, 2 s ... 60 s, for ever), the others not."""

    name = "apprise"

    def __init__(self, on_attempt: Callable[[Attempt], None], on_delivered: Callable[[int], None],
                 clock: Callable[[], datetime], *, workers: int = 2, asset: apprise.AppriseAsset | None = None,
                 **queue: Any) -> None:
        super().__init__(on_attempt, on_delivered, clock, workers=workers, **queue)
        self.sender = AppriseSender(self._report, clock, asset)

    def _check(self, delivery: Notification) -> None:
        if not delivery.urls:
            raise ValueError("a notification needs at least one Apprise URL")

    def _attempt(self, index: int, n: Notification, attempt_no: int) -> None:
        failed = self.sender.deliver(list(n.urls), n.title, n.body, delivery_id=n.id, attempt_no=attempt_no,
                                     notify_type=n.notify_type)
        if not failed:
            self._delivered(n)
            return
        if self._stopping:
            return
        if attempt_no == 1 or attempt_no % 10 == 0:
            log.warning("apprise delivery %d (%s) attempt %d: %d of %d services failed; will retry", n.id,
                        n.event_id, attempt_no, len(failed), len(n.urls))
        self._retry_later(replace(n, urls=tuple(failed)), attempt_no,
                          backoff_s(attempt_no, self.random_unit(), self.base_s, self.cap_s))
