"""What the law lets happen to a protection order (pure: no I/O, no clock; every time is passed in).

The rules that differ between the law in force and the expert draft come from the court's
:class:`~service.domain.profiles.LegalProfile` (``service.domain.profiles``, each rule with its source),
passed in; the default is the law in force (``prc-advl-2016``).

- An **ordinary** order runs the profile's term from its ruling (ADVL: at most 6 months, Art. 30;
  draft: 1 year, Art. 51); one without ``expires_at`` gets the whole term, a longer one is refused
  (``term_too_long``, :func:`check_term`). A temporary order's ``expires_at``, when given, is held to the
  same term (the draft gives it none: the ordinary order's year caps it, ``Term.temporary``). A stored
  order that breaks its profile's term is flagged to its court, never shortened (:func:`term_breach`), and
  so is an undecided order still in force once the term has run from its issue (:func:`undecided_too_long`).
- It is **extended** by the court before it lapses, as the profile allows (ADVL: each time by at most 6
  months; draft: once, by at most one year).
- A **temporary** order ends when the ordinary order is issued (superseded), or when the application
  is rejected or withdrawn. Until then it is *undecided* (:func:`undecided`): its court is reminded.
- The court's steps carry its **decision date** (``decided_at``, default the time of entry): a
  cancellation or the end of an application ends the order then, a modification's version is in force
  from then (:func:`decision_date`: not before the order's issue, not in the future).
- **Legal fields** (type, court, issued_at, expires_at) change only through the court's steps, never by
  re-importing a file (:func:`check_legal_fields`).
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

from service.domain import profiles
from service.domain.profiles import LegalProfile
from service.errors import InvalidInput

DEFAULT_PROFILE: LegalProfile = profiles.get(profiles.DEFAULT)
SERVICE_PARTIES = DEFAULT_PROFILE.service.parties  # the law in force's; a profile may add parties
SERVICE_DUE = DEFAULT_PROFILE.service.due
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


def add_months(t: datetime, months: int) -> datetime:
    """The same calendar day ``months`` later (clamped to the month's last day: 31 Aug + 6 months = 28/29 Feb)."""
    y, m = divmod(t.month - 1 + months, 12)
    year, month = t.year + y, m + 1
    return t.replace(year=year, month=month, day=min(t.day, calendar.monthrange(year, month)[1]))


def _span(months: int) -> str:
    return f"{months // 12} year{'s' if months > 12 else ''}" if months % 12 == 0 else f"{months} months"


def default_expiry(order_type: str, issued_at: datetime, profile: LegalProfile = DEFAULT_PROFILE) -> datetime | None:
    """The profile's whole term for an ordinary order (ADVL: 6 months; draft: 1 year); a temporary order
    runs until it is replaced or ends (undecided)."""
    return add_months(issued_at, profile.term.months) if order_type == "ordinary" else None


def term_limit(order_type: str, issued_at: datetime, profile: LegalProfile = DEFAULT_PROFILE) -> datetime | None:
    """The latest expiry the profile allows an order of this type at issue (None: no term for this type). A
    temporary order the law gives no term of its own is held to the profile's term (``Term.temporary``)."""
    return add_months(issued_at, profile.term.months) if profile.term.caps(order_type) else None


def _term_words(order_type: str, profile: LegalProfile) -> str:
    term = profile.term
    said = f"{_span(term.months)} from its ruling ({term.source})"
    if order_type not in term.applies_to and term.temporary:
        return f"{said}: {term.temporary}"
    return said


def check_term(order_type: str, issued_at: datetime, expires_at: datetime | None,
               profile: LegalProfile = DEFAULT_PROFILE) -> None:
    """An order issued with ``expires_at`` beyond its profile's term: ``term_too_long`` (field expires_at)."""
    limit = term_limit(order_type, issued_at, profile)
    if expires_at is not None and limit is not None and expires_at > limit:
        raise LegalError("term_too_long", f"under the legal profile {profile.name} an order runs at most "
                         f"{_term_words(order_type, profile)}; expires_at may be {_iso(limit)} at the latest",
                         "expires_at")


def issue(order_id: str, order_type: str, court_id: str, issued_at: datetime, expires_at: datetime | None,
          actor: Actor, at: datetime, profile: LegalProfile = DEFAULT_PROFILE) -> tuple[Standing, LegalEvent]:
    """A new order, held to its court's profile: an ordinary order without ``expires_at`` gets the term,
    one beyond it is refused (:func:`check_term`)."""
    _court(actor)
    if order_type not in ("ordinary", "temporary"):
        raise LegalError("bad_type", "type must be ordinary or temporary", "type")
    check_term(order_type, issued_at, expires_at, profile)
    expires = expires_at if expires_at is not None else default_expiry(order_type, issued_at, profile)
    standing = Standing(order_id, order_type, court_id, issued_at, expires)
    return standing, LegalEvent(order_id, "issued", at, actor.actor_id, actor.role, None,
                                {"type": order_type, "expires_at": expires, "profile": profile.name})


def term_breach(standing: Standing, profile: LegalProfile = DEFAULT_PROFILE) -> str | None:
    """Why a stored order in force breaks its profile's term (its expiry later than the term and the
    extensions on record allow), or None. Such an order is flagged to its court, never shortened."""
    if standing.status != OrderStatus.ACTIVE:
        return None
    limit = term_limit(standing.type, standing.issued_at, profile)
    if limit is None:
        return None
    if standing.expires_at is None:  # a temporary order: undecided (reminded), not beyond a term
        return None if standing.type == "temporary" else (
            f"an ordinary order without expiry: under {profile.name} it runs at most "
            f"{_span(profile.term.months)} ({profile.term.source})")
    ext = profile.extension
    allowed = standing.extensions if ext.max_count is None else min(standing.extensions, ext.max_count)
    limit = add_months(limit, ext.months * allowed)
    if standing.expires_at > limit:
        return (f"expires {_iso(standing.expires_at)}, later than {_iso(limit)}: under {profile.name} an order runs "
                f"at most {_term_words(standing.type, profile)}"
                + (f" and {standing.extensions} extension(s) of at most {_span(ext.months)} ({ext.source})"
                   if standing.extensions else ""))
    return None


def undecided_too_long(standing: Standing, now: datetime, profile: LegalProfile = DEFAULT_PROFILE) -> str | None:
    """Why an undecided order (:func:`undecided`) still in force at ``now`` has been so too long: its
    profile's term has run from its issue (the longest the law gives any order without a ruling on its end),
    or None. Flagged to its court (as a term breach is), never ended: the court decides."""
    if not undecided(standing):
        return None
    limit = add_months(standing.issued_at, profile.term.months)
    if now <= limit:
        return None
    what = "a temporary order" if standing.type == "temporary" else "an order without expiry"
    return (f"{what} still undecided {_span(profile.term.months)} after its issue ({_iso(standing.issued_at)}): "
            f"under {profile.name} an order runs at most {_term_words(standing.type, profile)}; the court decides "
            "its end (issues the ordinary order, or records the application's end or the order's cancellation)")


def undecided(standing: Standing) -> bool:
    """An order in force whose end the court has still to decide: a temporary order (it ends only when the
    ordinary order is issued or the application ends) or any order without an expiry. Its court is
    reminded of it (daily)."""
    return standing.status == OrderStatus.ACTIVE and (standing.type == "temporary" or standing.expires_at is None)


# The legal fields of an order file and the court's step that changes each (never a re-imported file).
LEGAL_FIELD_STEPS = {
    "court": "an order never moves to another court; another court's order is a new order: POST /api/v1/orders",
    "type": "type changes only through the court's steps: the ordinary order replaces the temporary one "
            "(POST /api/v1/orders with supersedes) or the application ends (POST /api/v1/orders/{id}/end)",
    "issued_at": "issued_at is the court's ruling and never changes; a new ruling is a new order: "
                 "POST /api/v1/orders (with supersedes for a temporary order)",
    "expires_at": "expires_at changes only through the court's extension: POST /api/v1/orders/{id}/extend "
                  "(or its cancellation: POST /api/v1/orders/{id}/cancel)",
}


def check_legal_fields(standing: Standing, order_type: str, court_id: str, issued_at: datetime,
                       expires_at: datetime | None) -> None:
    """A new body for an order in force (a re-imported file, a modification) keeps its legal fields:
    ``legal_field`` naming the field and the step to use instead."""
    new = {"court": court_id, "type": order_type, "issued_at": issued_at, "expires_at": expires_at}
    old = {"court": standing.court_id, "type": standing.type, "issued_at": standing.issued_at,
           "expires_at": standing.expires_at}
    for key in LEGAL_FIELD_STEPS:
        if new[key] != old[key]:
            raise LegalError("legal_field", f"{key} of order {standing.order_id} cannot change by a new body: "
                             + LEGAL_FIELD_STEPS[key].replace("{id}", standing.order_id), key)


def decision_date(standing: Standing, decided_at: datetime | None, at: datetime) -> datetime:
    """The court's decision date for a step entered at ``at`` (None: ``at``, the time of entry). Refused
    (``bad_decision_date``) before the order's issue, in the future, or once the order had lapsed."""
    if decided_at is None:
        return at
    if decided_at < standing.issued_at or decided_at > at:
        raise LegalError("bad_decision_date", "decided_at must lie between the order's issue and now", "decided_at")
    if standing.expires_at is not None and decided_at >= standing.expires_at:
        raise LegalError("bad_decision_date", f"the order had lapsed on {_iso(standing.expires_at)}: a decision "
                         "after it changes nothing", "decided_at")
    return decided_at


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def new_order_id(order_id: str, court_id: str, existing: Standing | None) -> None:
    """Whether a new order of ``court_id`` may take ``order_id``; ``existing``: the order stored under it
    (any court's, any status). The court's own order in force: :class:`LegalError` ``exists`` (modify it);
    any other reason: :class:`OrderIdUnavailable`, the same for all."""
    if existing is not None and existing.court_id == court_id and existing.status == OrderStatus.ACTIVE:
        raise LegalError("exists", f"order {order_id} exists; modify it instead", "order_id")
    if existing is not None or order_id in RESERVED_ORDER_IDS:
        raise OrderIdUnavailable()


def modify(standing: Standing, actor: Actor, reason: str | None, at: datetime, changed: Sequence[str],
           decided_at: datetime | None = None, in_force_from: datetime | None = None) -> LegalEvent:
    """A new version of the order's content (zones, distances, devices); the court's, with a reason. The
    version is in force from the decision date (``details["decided_at"]``), which may not precede the
    version in force now (``in_force_from``): versions follow one another."""
    _court(actor)
    _open(standing)
    _reason(reason)
    decided = decision_date(standing, decided_at, at)
    if in_force_from is not None and decided < in_force_from:
        raise LegalError("bad_decision_date", f"the version in force took effect on {_iso(in_force_from)}: a "
                         "modification takes effect after it", "decided_at")
    return LegalEvent(standing.order_id, "modified", at, actor.actor_id, actor.role, reason,
                      {"changed": list(changed), "decided_at": decided})


def extend(standing: Standing, new_expires_at: datetime, actor: Actor, reason: str | None,
           at: datetime, profile: LegalProfile = DEFAULT_PROFILE,
           decided_at: datetime | None = None) -> tuple[Standing, LegalEvent]:
    """Extend an ordinary order, decided before it lapses, as the profile allows (ADVL: each time by at
    most 6 months beyond the current expiry; draft: once, by at most one year)."""
    _court(actor)
    _open(standing)
    _reason(reason)
    ext = profile.extension
    if standing.type != "ordinary" or standing.expires_at is None:
        raise LegalError("not_extendable", "only an ordinary order is extended; a temporary order is replaced "
                         "by the ordinary order", "type")
    decided = decision_date(standing, decided_at, at)  # before the order lapses (bad_decision_date)
    if ext.max_count is not None and standing.extensions >= ext.max_count:
        raise LegalError("already_extended", f"under the legal profile {profile.name} an ordinary order can be "
                         f"extended only {'once' if ext.max_count == 1 else f'{ext.max_count} times'} ({ext.source})",
                         "expires_at")
    if new_expires_at <= standing.expires_at:
        raise LegalError("extension_not_later", "the new expiry must be after the current one", "expires_at")
    if new_expires_at > add_months(standing.expires_at, ext.months):
        raise LegalError("extension_too_long", f"under the legal profile {profile.name} an extension is at most "
                         f"{_span(ext.months)} beyond the current expiry ({ext.source})", "expires_at")
    extended = replace(standing, expires_at=new_expires_at, extensions=standing.extensions + 1)
    return extended, LegalEvent(standing.order_id, "extended", at, actor.actor_id, actor.role, reason,
                                {"from": standing.expires_at, "to": new_expires_at, "decided_at": decided})


def cancel(standing: Standing, actor: Actor, reason: str | None, at: datetime,
           decided_at: datetime | None = None) -> tuple[Standing, LegalEvent]:
    """The court ends the order, from its decision date (``ended_at``; default the time of entry). (A
    victim's wish to stop it is a matter for the court, not an action.)"""
    _court(actor)
    _open(standing)
    _reason(reason)
    decided = decision_date(standing, decided_at, at)
    return _end(standing, OrderStatus.CANCELLED, decided), LegalEvent(
        standing.order_id, "cancelled", at, actor.actor_id, actor.role, reason, {"decided_at": decided})


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
                    at: datetime, decided_at: datetime | None = None) -> tuple[Standing, LegalEvent]:
    """The application behind a temporary order is ``rejected`` or ``withdrawn``: the order ends, from the
    court's decision date (default the time of entry)."""
    _court(actor)
    _open(temporary)
    _reason(reason)
    if temporary.type != "temporary":
        raise LegalError("not_temporary", "an ordinary order ends by expiry or cancellation", "type")
    status = {"rejected": OrderStatus.REJECTED, "withdrawn": OrderStatus.WITHDRAWN}.get(outcome)
    if status is None:
        raise LegalError("bad_outcome", "the outcome is rejected or withdrawn", "outcome")
    decided = decision_date(temporary, decided_at, at)
    return _end(temporary, status, decided), LegalEvent(temporary.order_id, outcome, at, actor.actor_id, actor.role,
                                                        reason, {"decided_at": decided})


RECONSIDERATION_OUTCOMES = ("upheld", "modified", "cancelled")


def reconsideration_window(standing: Standing, profile: LegalProfile,
                           received_at: datetime | None) -> tuple[datetime | None, datetime | None]:
    """When an application for reconsideration may be filed: from the ruling's effect (ADVL: its issue)
    or the respondent's receipt (draft: his service, ``received_at``; None: not yet served, the window has
    not begun to run and a filing is taken), for the profile's days. (start, end); (None, None) when open."""
    start = standing.issued_at if profile.reconsideration.from_ == "effect" else received_at
    return (None, None) if start is None else (start, start + timedelta(days=profile.reconsideration.days))


def reconsideration_filed(standing: Standing, actor: Actor, reason: str | None, at: datetime,
                          profile: LegalProfile = DEFAULT_PROFILE, filed_at: datetime | None = None,
                          court: str | None = None, received_at: datetime | None = None,
                          earlier: int = 0) -> LegalEvent:
    """An application for reconsideration is on record: filed (``filed_at``, default now) within the
    profile's window (``reconsideration_window``), at the profile's court (ADVL: the issuing court, its
    default; draft: the next higher court, named: ``court``, a known court agency checked by the caller),
    once where the profile says so (``earlier``: applications already on record). It does not suspend
    the order (the standing is unchanged: monitoring goes on until the court decides)."""
    _court(actor)
    _open(standing)
    _reason(reason)
    rule = profile.reconsideration
    filed = at if filed_at is None else filed_at
    if filed > at or filed < standing.issued_at:
        raise LegalError("bad_decision_date", "filed_at must lie between the order's issue and now", "filed_at")
    start, end = reconsideration_window(standing, profile, received_at)
    if end is not None and not start <= filed <= end:  # type: ignore[operator]
        raise LegalError("reconsideration_window", f"under the legal profile {profile.name} reconsideration is "
                         f"applied for within {rule.days} days of "
                         f"{'the ruling taking effect' if rule.from_ == 'effect' else 'receipt'} ({rule.source}): "
                         f"from {_iso(start)} to {_iso(end)}", "filed_at")  # type: ignore[arg-type]
    if rule.once and earlier:
        raise LegalError("reconsideration_once", f"under the legal profile {profile.name} reconsideration is "
                         f"applied for once ({rule.source})", None)
    if rule.court == "issuing":
        if court is not None and court != standing.court_id:
            raise LegalError("reconsideration_court", f"under the legal profile {profile.name} the issuing court "
                             f"reconsiders its order ({rule.source}): court is {standing.court_id}", "court")
        court = standing.court_id
    elif court is None or court == standing.court_id:
        raise LegalError("reconsideration_court", f"under the legal profile {profile.name} the next higher court "
                         f"reconsiders the order ({rule.source}): name it in court", "court")
    return LegalEvent(standing.order_id, "reconsideration", at, actor.actor_id, actor.role, reason,
                      {"suspends": False, "filed_at": filed, "court": court, "window_ends": end,
                       "profile": profile.name})


def reconsideration_decided(standing: Standing, pending: LegalEvent | None, outcome: str, actor: Actor,
                            reason: str | None, at: datetime, decided_at: datetime | None = None) -> LegalEvent:
    """The reconsidering court's decision on the pending application (``pending``: its ``reconsideration``
    entry): ``upheld`` (nothing changes), ``modified`` (the court then modifies the order, a step of its
    own) or ``cancelled`` (the caller ends the order through :func:`cancel` from the same date)."""
    _court(actor)
    _open(standing)
    _reason(reason)
    if pending is None:
        raise LegalError("no_reconsideration", "no application for reconsideration of this order awaits a decision",
                         None)
    if outcome not in RECONSIDERATION_OUTCOMES:
        raise LegalError("bad_outcome", "the outcome is upheld, modified or cancelled", "outcome")
    decided = decision_date(standing, decided_at, at)
    filed = pending.details.get("filed_at")
    if isinstance(filed, datetime) and decided < filed:
        raise LegalError("bad_decision_date", "decided_at must not precede the application's filing", "decided_at")
    return LegalEvent(standing.order_id, "reconsideration_decided", at, actor.actor_id, actor.role, reason,
                      {"outcome": outcome, "decided_at": decided, "court": pending.details.get("court"),
                       "filed_at": filed})


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


def service_overdue(standing: Standing, served: Mapping[str, datetime], now: datetime,
                    profile: LegalProfile = DEFAULT_PROFILE) -> list[str]:
    """The parties of the profile's service list not yet served when its deadline has passed, in its
    order ([] before then, and once the order has ended)."""
    if standing.status != OrderStatus.ACTIVE or now - standing.issued_at < profile.service.due:
        return []
    return [p for p in profile.service.parties if p not in served]


def record_service(standing: Standing, party: str, served_at: datetime, actor: Actor, method: str | None,
                   at: datetime, profile: LegalProfile = DEFAULT_PROFILE) -> LegalEvent:
    parties = profile.service.parties
    if party not in parties:
        raise LegalError("bad_party", f"served to one of {', '.join(parties)} ({profile.service.source})", "party")
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
