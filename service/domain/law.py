"""What the law lets happen to a protection order (pure: no I/O, no clock; every time is passed in).

- An **ordinary** order runs one year from issue unless the court says otherwise (``expires_at``).
  It can be **extended once**, by at most one year; a second extension is refused.
- A **temporary** order ends when the ordinary order is issued (superseded), or when the application
  is rejected or withdrawn.
- Only the court changes an order: modification (zones, distances, devices), extension and
  cancellation need a court actor and a reason. **The victim's consent never switches a stay-away
  order off**: no victim action suspends, edits or cancels one. An application for reconsideration
  does not suspend monitoring (there is no such transition).
- Every change is a new version with who, when and why; monitoring uses the version in force at
  the report's time (:func:`version_at`).
- Service: the order is served to the respondent, the victim, the police and the community
  committee; anything unserved 24 h after issue is overdue (:func:`service_overdue`).
- Expiry (or any end) stops monitoring (:func:`monitored`).
- A device, and an OwnTracks topic, stand for one person in one court's orders at a time (the
  database keeps it: ``config_repo.bind``); another court names one only once the order's court, or
  an admin, has released it with a reason (:func:`release_device`). A refusal says the same whatever
  the reason (:class:`DeviceUnavailable`). The broker's usernames are one namespace (device ids,
  OwnTracks users, agency ids, the service's account): an order never names one another holder has.
- Order ids are unique across courts and never reused (they are in alerts, evidence and notices): a
  new order's id is refused with one answer whether another court's order has it, one of the court's
  own ended orders had it, or it is reserved (:func:`new_order_id`); only the court's own order in
  force gets the precise ``exists``.

Functions return a new :class:`Standing` and the :class:`LegalEvent` to append to the order's
history, or raise :class:`LegalError` with a stable code.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from service.errors import InvalidInput

SERVICE_PARTIES = ("respondent", "victim", "police", "committee")
SERVICE_DUE = timedelta(hours=24)
COURT_ROLES = frozenset({"court", "court_officer", "judge"})


class OrderStatus(StrEnum):
    ACTIVE = "active"  # in force (monitored between issue and expiry)
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    SUPERSEDED = "superseded"  # a temporary order, replaced by the ordinary order
    REJECTED = "rejected"  # a temporary order whose application was rejected
    WITHDRAWN = "withdrawn"  # a temporary order whose application was withdrawn


class LegalError(Exception):
    """A change the law does not allow; ``code`` is stable (the API's error code)."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


class DeviceUnavailable(InvalidInput):
    """A device or OwnTracks topic this order may not name now (the API's 409 ``device_unavailable``).

    One text for every reason (another court's order holds it, a replaced device still reporting until
    its successor's first message, another person's in this court, an agency's id), so the answer never
    confirms what another court's orders hold: ``field`` names the caller's own field, nothing else."""

    code = "device_unavailable"

    def __init__(self, field: str) -> None:
        what = "OwnTracks topic" if field.endswith("owntracks_topic") else "device"
        super().__init__(f"this {what} is not available for this order: a device or topic stands for one person "
                         "in one court's orders at a time, until that order's court releases it", field)


class OrderIdUnavailable(LegalError):
    """An id a new order may not take (the API's 409 ``order_id_unavailable``): one text for every reason
    (another court's order, in force or ended; one of the court's own ended orders; a reserved id), so the
    answer never confirms another court's order, nor names it or its court."""

    def __init__(self) -> None:
        super().__init__("order_id_unavailable", "this order_id is not available for a new order: order ids are "
                         "unique across courts and never reused; choose another", "order_id")


RESERVED_ORDER_IDS = frozenset({".", ".."})  # a dot segment in /api/v1/orders/{id} is resolved away by clients

RELEASABLE = ("device", "owntracks_topic")
RELEASERS = COURT_ROLES | {"admin"}


@dataclass(frozen=True, slots=True)
class Actor:
    actor_id: str
    role: str  # court | court_officer | judge | police | supervisor | admin | victim | respondent | system


@dataclass(frozen=True, slots=True)
class Standing:
    """An order's legal state, apart from its content (zones, parties: the versions)."""

    order_id: str
    type: str  # temporary | ordinary
    court_id: str
    issued_at: datetime
    expires_at: datetime | None
    status: OrderStatus = OrderStatus.ACTIVE
    extensions: int = 0
    ended_at: datetime | None = None
    superseded_by: str | None = None


@dataclass(frozen=True, slots=True)
class LegalEvent:
    """One entry of an order's append-only history."""

    order_id: str
    event: str  # issued | modified | extended | cancelled | superseded | rejected | withdrawn | expired | served
    #             | device_released
    at: datetime
    actor_id: str
    role: str
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def add_years(t: datetime, years: int = 1) -> datetime:
    """The same calendar date ``years`` later (29 February becomes 28 February)."""
    year = t.year + years
    return t.replace(year=year, day=min(t.day, calendar.monthrange(year, t.month)[1]))


def default_expiry(order_type: str, issued_at: datetime) -> datetime | None:
    """One year from issue for an ordinary order; a temporary order runs until it is replaced or ends."""
    return add_years(issued_at) if order_type == "ordinary" else None


def issue(order_id: str, order_type: str, court_id: str, issued_at: datetime, expires_at: datetime | None,
          actor: Actor, at: datetime) -> tuple[Standing, LegalEvent]:
    _court(actor)
    expires = expires_at if expires_at is not None else default_expiry(order_type, issued_at)
    standing = Standing(order_id, order_type, court_id, issued_at, expires)
    return standing, LegalEvent(order_id, "issued", at, actor.actor_id, actor.role, None,
                                {"type": order_type, "expires_at": expires})


def new_order_id(order_id: str, court_id: str, existing: Standing | None) -> None:
    """Whether a new order of ``court_id`` may take ``order_id``; ``existing``: the order stored under it
    (any court's, any status). The court's own order in force: :class:`LegalError` ``exists`` (modify it);
    any other reason: :class:`OrderIdUnavailable`, the same for all."""
    if existing is not None and existing.court_id == court_id and existing.status == OrderStatus.ACTIVE:
        raise LegalError("exists", f"order {order_id} exists; modify it instead", "order_id")
    if existing is not None or order_id in RESERVED_ORDER_IDS:
        raise OrderIdUnavailable()


def modify(standing: Standing, actor: Actor, reason: str | None, at: datetime, changed: Sequence[str]) -> LegalEvent:
    """A new version of the order's content (zones, distances, devices); the court's, with a reason."""
    _court(actor)
    _open(standing)
    _reason(reason)
    return LegalEvent(standing.order_id, "modified", at, actor.actor_id, actor.role, reason, {"changed": list(changed)})


def extend(standing: Standing, new_expires_at: datetime, actor: Actor, reason: str | None,
           at: datetime) -> tuple[Standing, LegalEvent]:
    """Extend an ordinary order once, by at most one year from its current expiry."""
    _court(actor)
    _open(standing)
    _reason(reason)
    if standing.type != "ordinary" or standing.expires_at is None:
        raise LegalError("not_extendable", "only an ordinary order is extended; a temporary order is replaced "
                         "by the ordinary order", "type")
    if standing.extensions >= 1:
        raise LegalError("already_extended", "an ordinary order can be extended only once", "expires_at")
    if new_expires_at <= standing.expires_at:
        raise LegalError("extension_not_later", "the new expiry must be after the current one", "expires_at")
    if new_expires_at > add_years(standing.expires_at):
        raise LegalError("extension_too_long", "an extension is at most one year", "expires_at")
    extended = replace(standing, expires_at=new_expires_at, extensions=standing.extensions + 1)
    return extended, LegalEvent(standing.order_id, "extended", at, actor.actor_id, actor.role, reason,
                                {"from": standing.expires_at, "to": new_expires_at})


def cancel(standing: Standing, actor: Actor, reason: str | None, at: datetime) -> tuple[Standing, LegalEvent]:
    """The court ends the order. (A victim's wish to stop it is a matter for the court, not an action.)"""
    _court(actor)
    _open(standing)
    _reason(reason)
    return _end(standing, OrderStatus.CANCELLED, at), LegalEvent(standing.order_id, "cancelled", at, actor.actor_id,
                                                                  actor.role, reason)


def supersede(temporary: Standing, ordinary_id: str, actor: Actor, at: datetime) -> tuple[Standing, LegalEvent]:
    """The ordinary order is issued: the temporary one ends (monitoring continues under the new one)."""
    _court(actor)
    _open(temporary)
    if temporary.type != "temporary":
        raise LegalError("not_temporary", "only a temporary order is superseded", "type")
    ended = replace(_end(temporary, OrderStatus.SUPERSEDED, at), superseded_by=ordinary_id)
    return ended, LegalEvent(temporary.order_id, "superseded", at, actor.actor_id, actor.role, None,
                             {"by": ordinary_id})


def release_device(standing: Standing, actor: Actor, role: str, what: str, device_id: str | None,
                   owntracks_topic: str | None, reason: str | None, at: datetime) -> LegalEvent:
    """The order gives up a party's device (``what`` = ``device``: with its OwnTracks topic) or its OwnTracks
    topic, so another order may name it. Its court, or an admin, with a reason. The order goes on without it
    (a new version): the victim's phone released, the moving zone can no longer be checked and says so
    (``victim_signal_lost``). The respondent's tracker is replaced, never released: the order is kept
    through it."""
    if actor.role not in RELEASERS:
        raise LegalError("court_only", "only the order's court (or an admin) releases its devices", None)
    _open(standing)
    _reason(reason)
    if role not in ("respondent", "victim"):
        raise LegalError("bad_party", "role must be respondent or victim", "role")
    if what not in RELEASABLE:
        raise LegalError("bad_release", "what must be device or owntracks_topic", "what")
    if role == "respondent" and what == "device":
        raise LegalError("device_required", "the order is kept through the respondent's tracker: replace it "
                         "(replace-device) rather than release it", "what")
    held = device_id if what == "device" else owntracks_topic
    if held is None:
        raise LegalError("nothing_to_release", f"the {role} has no {what.replace('_', ' ')} in this order", "what")
    details: dict[str, Any] = {"role": role, "what": what, what if what == "owntracks_topic" else "device_id": held}
    if what == "device" and owntracks_topic is not None:
        details["owntracks_topic"] = owntracks_topic  # it stood for the device: it goes with it
    return LegalEvent(standing.order_id, "device_released", at, actor.actor_id, actor.role, reason, details)


def end_application(temporary: Standing, outcome: str, actor: Actor, reason: str | None,
                    at: datetime) -> tuple[Standing, LegalEvent]:
    """The application behind a temporary order is ``rejected`` or ``withdrawn``: the order ends."""
    _court(actor)
    _open(temporary)
    _reason(reason)
    if temporary.type != "temporary":
        raise LegalError("not_temporary", "an ordinary order ends by expiry or cancellation", "type")
    status = {"rejected": OrderStatus.REJECTED, "withdrawn": OrderStatus.WITHDRAWN}.get(outcome)
    if status is None:
        raise LegalError("bad_outcome", "the outcome is rejected or withdrawn", "outcome")
    return _end(temporary, status, at), LegalEvent(temporary.order_id, outcome, at, actor.actor_id, actor.role, reason)


def reconsideration_filed(standing: Standing, actor: Actor, reason: str | None, at: datetime) -> LegalEvent:
    """An application for reconsideration is on record; it does not suspend the order (the standing is
    unchanged: monitoring goes on until the court decides, by modifying or cancelling it)."""
    _court(actor)
    _open(standing)
    _reason(reason)
    return LegalEvent(standing.order_id, "reconsideration", at, actor.actor_id, actor.role, reason,
                      {"suspends": False})


def expire(standing: Standing, at: datetime) -> tuple[Standing, LegalEvent] | None:
    """The order's time is up (``at`` at or after ``expires_at``): it ends; None while it runs."""
    if standing.status != OrderStatus.ACTIVE or standing.expires_at is None or at < standing.expires_at:
        return None
    return _end(standing, OrderStatus.EXPIRED, standing.expires_at), LegalEvent(
        standing.order_id, "expired", standing.expires_at, "system", "system")


def monitored(standing: Standing, at: datetime) -> bool:
    """Whether reports at ``at`` are checked against this order (it is in force then)."""
    if at < standing.issued_at:
        return False
    if standing.expires_at is not None and at >= standing.expires_at:
        return False
    return standing.status == OrderStatus.ACTIVE or (standing.ended_at is not None and at < standing.ended_at)


V = TypeVar("V")


def version_at(versions: Sequence[tuple[datetime, V]], at: datetime) -> V | None:
    """The version in force at ``at``: the latest whose effective time is not after it. ``versions``
    are (effective_from, version) in effect order; None before the first."""
    chosen = None
    for effective_from, version in versions:
        if effective_from <= at:
            chosen = version
        else:
            break
    return chosen


def service_overdue(standing: Standing, served: Mapping[str, datetime], now: datetime) -> list[str]:
    """The parties not yet served 24 h after issue, in :data:`SERVICE_PARTIES` order ([] before then,
    and once the order has ended)."""
    if standing.status != OrderStatus.ACTIVE or now - standing.issued_at < SERVICE_DUE:
        return []
    return [p for p in SERVICE_PARTIES if p not in served]


def record_service(standing: Standing, party: str, served_at: datetime, actor: Actor, method: str | None,
                   at: datetime) -> LegalEvent:
    if party not in SERVICE_PARTIES:
        raise LegalError("bad_party", f"served to one of {', '.join(SERVICE_PARTIES)}", "party")
    if actor.role in ("victim", "respondent"):
        raise LegalError("forbidden", "service is recorded by the court or the police", None)
    if served_at < standing.issued_at or served_at > at:
        raise LegalError("bad_time", "served_at must be between issue and now", "served_at")
    return LegalEvent(standing.order_id, "served", at, actor.actor_id, actor.role, None,
                      {"party": party, "served_at": served_at, "method": method})


def _court(actor: Actor) -> None:
    if actor.role not in COURT_ROLES:
        raise LegalError("court_only", "only the court changes a protection order; the victim's consent never "
                         "suspends or ends it", None)


def _open(standing: Standing) -> None:
    if standing.status != OrderStatus.ACTIVE:
        raise LegalError("order_ended", f"the order has ended ({standing.status.value})", None)


def _reason(reason: str | None) -> None:
    if not reason or not reason.strip():
        raise LegalError("reason_required", "a change of a protection order needs its reason on record", "reason")


def _end(standing: Standing, status: OrderStatus, at: datetime) -> Standing:
    return replace(standing, status=status, ended_at=at)
