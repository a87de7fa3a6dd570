"""Protection never stops silently (LAW.md): reminders before an order's end, the announcement of every
end, and the grace after it (pure: every time is passed in).

- **Reminders** before expiry (:data:`REMINDER_DAYS`, default 14 and 3 days; ``STAYAWAY_EXPIRY_REMINDERS``)
  go to the order's court, its responsible police agency and her phone, so an extension can be sought in
  time. Each is sent once (its key is kept in the order's legal history); when the service was down
  through one, only the nearest still ahead is sent. An order with no end of its own (a temporary or
  undecided order) is reminded to its court once a day (:func:`undecided`).
- **Every end** (expiry, cancellation, supersession, rejection, withdrawal) is told, with why, to the
  court, the responsible police agency, every agency that received one of the order's alerts, and her
  phone (:func:`end_notices`). The respondent is told by the court (the court's notice says so): his
  tracker reads only what the disclosure rule lets reach it, and that is nothing.
- **Grace** (:data:`GRACE`, default 72 h; ``STAYAWAY_END_GRACE_H``) from the end, or from when the end
  was recorded if that is later (a cancellation entered late): her panic is still an emergency (stored,
  raised, routed to police, marked ``after_end``); his tracker's reports are still stored as evidence but
  raise nothing. After the grace the order's devices are unknown again (stored as rejections).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from service.domain import notices
from service.domain.messages import AgencyNotice, DeviceCommand
from service.domain.orders import OrderSpec

GRACE = timedelta(hours=72)
REMINDER_DAYS: tuple[int, ...] = (14, 3)
UNDECIDED_EVERY = timedelta(days=1)
END_STATUSES = ("expired", "cancelled", "superseded", "rejected", "withdrawn")


@dataclass(frozen=True, slots=True)
class Ending:
    """How an order ended, and until when her panic still reaches police."""

    status: str
    at: datetime  # when it took effect (the expiry, the court's decision)
    grace_until: datetime


def grace_until(ended_at: datetime, recorded_at: datetime, grace: timedelta = GRACE) -> datetime:
    return max(ended_at, recorded_at) + grace


def undecided(spec: OrderSpec) -> bool:
    """An order with no end of its own: a temporary order, or one without an expiry (awaiting the court)."""
    return spec.type == "temporary" or spec.expires_at is None


def due_reminders(spec: OrderSpec, now: datetime, sent: Iterable[str],
                  days: Sequence[int] = REMINDER_DAYS) -> tuple[list[str], int | None]:
    """(the reminder keys to record now, the whole days left to say in the one to send, or None). Keys are
    ``expiry:{days}``; all thresholds passed are recorded, one reminder is sent (an order issued for less
    than a threshold is reminded at once, with the days it really has left)."""
    if spec.expires_at is None or now >= spec.expires_at:
        return [], None
    done = set(sent)
    passed = [d for d in sorted(days, reverse=True) if now >= spec.expires_at - timedelta(days=d)]
    keys = [f"expiry:{d}" for d in passed if f"expiry:{d}" not in done]
    if not keys:
        return [], None
    left = max(1, (spec.expires_at - now) // timedelta(days=1))  # whole days, as a person would say it
    return keys, min(left, min(passed))


def next_reminder_at(spec: OrderSpec, sent: Iterable[str], days: Sequence[int] = REMINDER_DAYS) -> datetime | None:
    if spec.expires_at is None:
        return None
    done = set(sent)
    ahead = [spec.expires_at - timedelta(days=d) for d in days if f"expiry:{d}" not in done]
    return min(ahead, default=None)


def undecided_due(spec: OrderSpec, now: datetime, last: datetime | None) -> bool:
    return undecided(spec) and (last is None or now - last >= UNDECIDED_EVERY) and now >= spec.issued_at


def notice_id(order_id: str, key: str) -> str:
    """The outbox's id of an order notice (a name-based UUID: the same notice is the same id)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"stayaway:{order_id}:{key}"))


def phone_notice(spec: OrderSpec, key: str, topic: str, facts: Mapping[str, Any]) -> DeviceCommand | None:
    """A notice to her phone about her order (not an alert): None when she has no phone in it."""
    phone = spec.victim.device_id
    if phone is None:
        return None
    locale = notices.locale_of(spec.victim.locale)
    shown = {k: notices.shown_time(v, locale) if isinstance(v, datetime) else v for k, v in facts.items()}
    body = notices.body(f"{spec.order_id}:{key}", topic, locale, {"order_id": spec.order_id, **shown}, spec.order_id)
    return DeviceCommand(phone, body, notice_id(spec.order_id, key), 1, channel="notices")


def reminder_notices(spec: OrderSpec, key: str, days_left: int, police: str | None,
                     now: datetime) -> tuple[list[AgencyNotice], list[DeviceCommand]]:
    assert spec.expires_at is not None
    body = {"kind": "expiry_reminder", "order_id": spec.order_id, "expires_at": spec.expires_at,
            "days_left": days_left, "extensions_possible": "ask the court before it lapses", "at": now}
    agencies = [AgencyNotice(a, spec.order_id, f"reminder:{key}", body) for a in _unique(spec.court_id, police)]
    phone = phone_notice(spec, f"reminder:{key}", "reminder", {"at": spec.expires_at, "days": days_left})
    return agencies, [phone] if phone is not None else []


def undecided_notice(spec: OrderSpec, now: datetime) -> AgencyNotice:
    return AgencyNotice(spec.court_id, spec.order_id, f"undecided:{now.date().isoformat()}", {
        "kind": "undecided_reminder", "order_id": spec.order_id, "type": spec.type, "issued_at": spec.issued_at,
        "expires_at": spec.expires_at, "message": "this order has no end of its own: decide the application "
        "(issue the ordinary order, or record its rejection or withdrawal)", "at": now})


def end_notices(spec: OrderSpec, ending: Ending, reason: str | None, police: str | None, others: Iterable[str],
                now: datetime, superseded_by: str | None = None) -> tuple[list[AgencyNotice], list[DeviceCommand]]:
    """The end told to every agency concerned and to her phone."""
    grace_h = max(0, round((ending.grace_until - max(ending.at, now)).total_seconds() / 3600))
    body = {"kind": "order_ended", "order_id": spec.order_id, "status": ending.status, "ended_at": ending.at,
            "reason": reason, "superseded_by": superseded_by, "grace_until": ending.grace_until,
            "inform": ["respondent"],  # the court tells him: nothing reaches his device
            "message": "the order is no longer in force; her panic still reaches police until grace_until", "at": now}
    agencies = [AgencyNotice(a, spec.order_id, "order_ended", body) for a in _unique(spec.court_id, police, *others)]
    locale = notices.locale_of(spec.victim.locale)
    if ending.status == "superseded" and superseded_by:  # she is still protected: no grace, no "call 110"
        phone = phone_notice(spec, "order_ended", "order_replaced", {"at": ending.at, "by": superseded_by})
    else:
        phone = phone_notice(spec, "order_ended", "order_ended", {
            "at": ending.at, "why": notices.end_reason(ending.status, locale), "grace_h": grace_h})
    return agencies, [phone] if phone is not None else []


def change_notice(spec: OrderSpec, version: int, effective_from: datetime) -> DeviceCommand | None:
    return phone_notice(spec, f"version:{version}", "order_change", {"at": effective_from})


def _unique(*agencies: str | None) -> list[str]:
    return list(dict.fromkeys(a for a in agencies if a))
