"""Who may do what (pure): roles, scopes, and the victim's location on a need-to-know basis.

Roles: ``police`` (an officer of a police agency), ``court`` (a court enforcement officer),
``supervisor`` (of a police or court agency), ``admin`` (accounts and agencies; no case data),
``victim`` (her companion app, signed in as her device), ``respondent`` (nothing, ever).
API tokens for integrations carry one of the officer roles and an agency, like an account.

Scopes:
- a court officer sees and changes the orders of her court;
- police see the orders, alerts and timelines in their jurisdiction: an order whose zones lie in
  it or one of whose alerts was routed to them;
- a supervisor sees what the officers of her agency see, and her agency's accountability figures;
- the victim sees her own order's status, notices and her own alerts, and presses panic;
- the respondent sees nothing of the victim: no role grants him any read.

The victim's coordinates (:func:`victim_position_access`) go only to police and court officers in
scope, and only while an alert that needs them (a panic, a proximity) is open, or with a reason
stated and recorded (break-glass). Every read of victim data is audited by the caller. What is computed
from her positions or her places (distances to her or to her zones, ETAs, depths) goes with them: it is
cut from everything else a caller reads by :func:`service.domain.her_data.without_her_data`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from service.domain import law


class Role(StrEnum):
    POLICE = "police"
    COURT = "court"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    VICTIM = "victim"
    RESPONDENT = "respondent"


OFFICER_ROLES = frozenset({Role.POLICE, Role.COURT, Role.SUPERVISOR})
ACCOUNT_ROLES = frozenset({Role.POLICE, Role.COURT, Role.SUPERVISOR, Role.ADMIN})  # people who sign in
VICTIM_POSITION_ROLES = frozenset({Role.POLICE, Role.COURT})
VICTIM_ALERT_KINDS = frozenset({"panic", "zone_breach", "proximity", "pre_alert"})  # what her phone may follow
NEED_TO_KNOW_KINDS = frozenset({"panic", "proximity"})  # open alerts whose handling needs where she is
MIN_REASON_CHARS = 10


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str  # account name, token name or device id
    role: Role
    agency_id: str | None = None  # officers and tokens: their agency
    agency_kind: str | None = None  # police | court (a supervisor's agency decides what she supervises)
    via: str = "session"  # session | token | device
    order_ids: frozenset[str] = field(default_factory=frozenset)  # a victim's device: her orders

    def law_actor(self) -> law.Actor:
        """As the order law sees the principal: a court officer (or a court's supervisor) is the court."""
        court = self.role == Role.COURT or (self.role == Role.SUPERVISOR and self.agency_kind == "court")
        return law.Actor(self.subject, "court" if court else self.role.value)


@dataclass(frozen=True, slots=True)
class OrderScope:
    order_id: str
    court_id: str
    police: frozenset[str]  # police agencies whose jurisdiction holds a zone, or that got one of its alerts


def may_read_order(p: Principal, o: OrderScope) -> bool:
    if p.role in (Role.COURT, Role.SUPERVISOR) and p.agency_id == o.court_id:
        return True
    if p.role in (Role.POLICE, Role.SUPERVISOR) and p.agency_id in o.police:
        return True
    return p.role == Role.VICTIM and o.order_id in p.order_ids  # her own order's status


def may_read_order_details(p: Principal, o: OrderScope) -> bool:
    """Zones, parties and devices of an order: officers in scope only (a victim sees its status)."""
    return p.role in OFFICER_ROLES and may_read_order(p, o)


def may_change_order(p: Principal, o: OrderScope) -> bool:
    """Only the court changes an order: its own court's officers (the victim's consent switches nothing)."""
    return p.law_actor().role == "court" and p.agency_id == o.court_id


def may_create_order(p: Principal, court_id: str) -> bool:
    return p.law_actor().role == "court" and p.agency_id == court_id


def may_record_service(p: Principal, o: OrderScope) -> bool:
    return may_change_order(p, o) or (p.role == Role.POLICE and p.agency_id in o.police)


def may_read_alert(p: Principal, recipients: Iterable[str], order_id: str, kind: str) -> bool:
    if p.role in OFFICER_ROLES:
        return p.agency_id is not None and p.agency_id in set(recipients)
    # her own order's alerts about her safety: her panics, his breaches of her places, his approach to her
    return p.role == Role.VICTIM and order_id in p.order_ids and kind in VICTIM_ALERT_KINDS


def may_act_on_alert(p: Principal, recipients: Iterable[str]) -> bool:
    """Acknowledge, dispatch, resolve, refer: the officers of an agency that received it."""
    return p.role in OFFICER_ROLES and p.agency_id is not None and p.agency_id in set(recipients)


def may_read_accountability(p: Principal, agency_id: str | None) -> bool:
    """Supervisors see their own agency's figures; admins every agency's."""
    if p.role == Role.ADMIN:
        return True
    return p.role == Role.SUPERVISOR and agency_id is not None and agency_id == p.agency_id


def may_manage_accounts(p: Principal) -> bool:
    return p.role == Role.ADMIN


@dataclass(frozen=True, slots=True)
class VictimPositionAccess:
    allowed: bool
    basis: str  # open_alert | break_glass | denied
    why: str


def open_alert_needs_her(p: Principal, open_alerts: Iterable[tuple[str, Iterable[str]]]) -> bool:
    """An open alert that needs where she is (a panic, a proximity) was routed to ``p``'s agency: the
    need-to-know basis of :func:`victim_position_access` (which also asks for the role and the scope)."""
    return p.agency_id is not None and any(kind in NEED_TO_KNOW_KINDS and p.agency_id in set(recipients)
                                           for kind, recipients in open_alerts)


def victim_position_access(p: Principal, o: OrderScope, open_alerts: Iterable[tuple[str, Iterable[str]]],
                           reason: str | None) -> VictimPositionAccess:
    """Whether ``p`` may read where the victim is now (or was): police and court in scope, while an
    alert that needs it (a panic, a proximity) is open and was routed to ``p``'s agency, or with a stated
    reason that the caller records (break-glass). ``open_alerts``: (kind, recipients) of the order's."""
    if p.role not in VICTIM_POSITION_ROLES or not may_read_order(p, o):
        return VictimPositionAccess(False, "denied", "only police and court officers in scope")
    if open_alert_needs_her(p, open_alerts):
        return VictimPositionAccess(True, "open_alert", "an open alert to your agency needs it")
    if reason is not None and len(reason.strip()) >= MIN_REASON_CHARS:
        return VictimPositionAccess(True, "break_glass", "reason stated and recorded")
    return VictimPositionAccess(False, "denied", f"no open alert needs it: state a reason (at least "
                                                 f"{MIN_REASON_CHARS} characters) to break the glass")
