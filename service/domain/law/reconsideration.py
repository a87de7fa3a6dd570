"""An application for reconsideration: its window, its filing and the reconsidering court's decision
(pure). It never suspends the order."""

from __future__ import annotations

from datetime import datetime, timedelta

from service.domain.law.model import (
    DEFAULT_PROFILE,
    Actor,
    LegalError,
    LegalEvent,
    Standing,
    _court,
    _iso,
    _open,
    _reason,
)
from service.domain.law.steps import decision_date
from service.domain.profiles import LegalProfile

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
