"""Service of the order on its parties: what is overdue, and a service on record (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from service.domain.law.model import (
    DEFAULT_PROFILE,
    Actor,
    LegalError,
    LegalEvent,
    OrderStatus,
    Standing,
)
from service.domain.profiles import LegalProfile


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
