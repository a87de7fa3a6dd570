"""An order's term and its end: the expiry a profile gives or allows, a stored term that breaks it, an
undecided order, expiry, and whether an order is in force at a time (pure)."""

from __future__ import annotations

import calendar
from datetime import datetime

from service.domain.law.model import (
    DEFAULT_PROFILE,
    LegalError,
    LegalEvent,
    OrderStatus,
    Standing,
    _end,
    _iso,
)
from service.domain.profiles import LegalProfile


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
