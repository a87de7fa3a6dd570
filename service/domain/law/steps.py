"""The court's steps on an order: issue, the legal fields, the decision date, a new order's id,
modification, extension, cancellation, supersession, a device's release and the application's end (pure).
Each returns the new :class:`Standing` and/or the :class:`LegalEvent` to append, or raises :class:`LegalError`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from service.domain.law.expiry import _span, add_months, check_term, default_expiry
from service.domain.law.model import (
    DEFAULT_PROFILE,
    RELEASABLE,
    RELEASERS,
    RESERVED_ORDER_IDS,
    Actor,
    LegalError,
    LegalEvent,
    OrderIdUnavailable,
    OrderStatus,
    Standing,
    _court,
    _end,
    _iso,
    _open,
    _reason,
)
from service.domain.profiles import LegalProfile


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
