"""The outbound planner: every message a unit of work sends, decided in one place (pure).

From the monitor's :class:`Changes` (alert events, device commands and notices to her phone, notices to
agencies) and the process's one agency :class:`Directory`, :func:`plan_messages` decides each message:
its encoding (``service.wire.encode``: an agency's kind decides whether it sees the victim's position),
its topic, its priority (a panic first, then by severity; a device command as urgent as the critical
alert it follows) and its channels: always the MQTT outbox, and for an alert message also the agency's
webhook (an agency with a webhook URL) and its Apprise URLs (an agency in ``directory.notify``). It
returns a :class:`Plan` of plain values; the repositories only insert it. No I/O, no clock: the caller
passes ``now`` (when a command or a notice is written).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from alerts import Alert, Kind, Severity
from service.domain.directory import Directory
from service.domain.messages import AgencyNotice, DeviceCommand
from service.domain.monitoring import Changes, RoutedEvent
from service.wire.encode import (
    agency_notice_topic,
    alert_message,
    alert_topic,
    device_topic,
)
from service.wire.rfc3339 import format_ts

PRIORITY = {Kind.PANIC: 0, Severity.CRITICAL: 1, Severity.HIGH: 2, Severity.WARNING: 3}
COMMAND_PRIORITY = 1  # pursuit mode follows a critical alert: as urgent as the alert itself
NOTICE_PRIORITY = PRIORITY[Severity.WARNING]
WEBHOOK = "webhook"
APPRISE = "apprise"
CHANNELS = (WEBHOOK, APPRISE)  # outside channels, in the order their deliveries are written


@dataclass(frozen=True, slots=True)
class Message:
    """One outbox row: a payload for a topic (an agency's alerts or notices, a device's commands or
    notices), and the outside channels that carry it too."""

    alert_id: str  # for a notice to an agency: its notice_id
    event_seq: int
    recipient: str  # the agency; for a device's topic, the device
    priority: int
    topic: str
    payload: bytes
    created_at: datetime
    channels: tuple[str, ...] = ()  # WEBHOOK, APPRISE: a durable delivery each

    @property
    def event_id(self) -> str:
        return f"{self.alert_id}:{self.event_seq}"


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One ``alert_log`` record: an alert event and the message each recipient got."""

    alert_id: str
    event_seq: int
    event: str
    status: str
    at: datetime
    messages: dict[str, dict[str, Any]]  # agency -> its message
    note: Any = None


@dataclass(slots=True)
class Plan:
    alerts: dict[str, tuple[Alert, tuple[str, ...]]] = field(default_factory=dict)  # id -> state after its last event
    log: list[LogEntry] = field(default_factory=list)
    notices: list[Message] = field(default_factory=list)  # to agencies, not alerts
    alert_messages: list[Message] = field(default_factory=list)
    commands: list[Message] = field(default_factory=list)  # to devices

    def messages(self) -> list[Message]:
        """Every outbox row, in the order they are written."""
        return [*self.notices, *self.alert_messages, *self.commands]


def plan_messages(changes: Changes, directory: Directory, now: datetime) -> Plan:
    """Everything ``changes`` sends (membership, legal events and ends are not messages: the caller
    writes them as they are)."""
    plan = Plan(notices=notice_messages(changes.agency_notices, now),
                commands=command_messages(changes.commands, now))
    for ev in changes.events:
        _plan_event(plan, ev, directory)
    return plan


def priority(alert: Alert) -> int:
    return PRIORITY[Kind.PANIC] if alert.kind == Kind.PANIC else PRIORITY[alert.severity]


def _plan_event(plan: Plan, ev: RoutedEvent, directory: Directory) -> None:
    alert = ev.event.alert
    plan.alerts[alert.alert_id] = (alert, ev.recipients)  # one row per alert: PostgreSQL's ON CONFLICT may
    messages = {  # not touch a row twice in one statement
        agency: alert_message(ev.event, agency, directory.kind(agency), ev.respondent_fix, ev.victim_fix, ev.zone,
                              ev.distance_m)
        for agency in ev.recipients
    }
    plan.log.append(LogEntry(alert.alert_id, alert.event_seq, ev.event.event.value, alert.status.value, ev.event.at,
                             messages, ev.event.details.get("note")))
    level = priority(alert)
    for agency, msg in messages.items():
        channels = tuple(c for c, has in ((WEBHOOK, agency in directory.webhooks), (APPRISE, agency in directory.notify))
                         if has)
        plan.alert_messages.append(Message(alert.alert_id, alert.event_seq, agency, level, alert_topic(agency),
                                           orjson.dumps(msg), ev.event.at, channels))


def command_messages(commands: Sequence[DeviceCommand], now: datetime) -> list[Message]:
    """Device commands and notices to her phone (contract section 3)."""
    return [Message(c.alert_id, c.event_seq, c.device_id, COMMAND_PRIORITY, device_topic(c.device_id, c.channel),
                    orjson.dumps(c.body), now) for c in commands]


def notice_messages(notices: Sequence[AgencyNotice], now: datetime) -> list[Message]:
    """Notices to agencies (``stayaway/v1/agencies/{id}/notices``); a notice's ``notice_id`` is a
    name-based UUID of its order and kind."""
    out = []
    for n in notices:
        notice_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"stayaway:{n.order_id}:{n.kind}"))
        body = {"notice_id": notice_id, **{k: format_ts(v) if isinstance(v, datetime) else v for k, v in n.body.items()}}
        out.append(Message(notice_id, 1, n.agency_id, NOTICE_PRIORITY, agency_notice_topic(n.agency_id),
                           orjson.dumps(body), now))
    return out
