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
  database keeps it: ``bindings_repo.bind``); another court names one only once the order's court, or
  an admin, has released it with a reason (:func:`release_device`). A refusal says the same whatever
  the reason (:class:`DeviceUnavailable`). The broker's usernames are one namespace (device ids,
  OwnTracks users, agency ids, the service's account): an order never names one another holder has.
- Order ids are unique across courts and never reused (they are in alerts, evidence and notices): a
  new order's id is refused with one answer whether another court's order has it, one of the court's
  own ended orders had it, or it is reserved (:func:`new_order_id`); only the court's own order in
  force gets the precise ``exists``.

Functions return a new :class:`Standing` and the :class:`LegalEvent` to append to the order's
history, or raise :class:`LegalError` with a stable code.

The package's modules: ``model`` (status, legal state, history entries, actors, errors, the checks every
step makes), ``expiry`` (the term, its breach, undecided orders, expiry, :func:`monitored`), ``steps`` (the
court's steps), ``reconsideration``, ``versions`` (:func:`version_at`) and ``serving`` (service of the
order). Every name is exported here: ``from service.domain import law`` and ``law.X``.
"""

from __future__ import annotations

from service.domain import profiles
from service.domain.law.expiry import (
    add_months,
    add_years,
    check_term,
    default_expiry,
    expire,
    monitored,
    term_breach,
    term_limit,
    undecided,
    undecided_too_long,
)
from service.domain.law.model import (
    COURT_ROLES,
    DEFAULT_PROFILE,
    RELEASABLE,
    RELEASERS,
    RESERVED_ORDER_IDS,
    SERVICE_DUE,
    SERVICE_PARTIES,
    Actor,
    DeviceUnavailable,
    LegalError,
    LegalEvent,
    OrderIdUnavailable,
    OrderStatus,
    Standing,
)
from service.domain.law.reconsideration import (
    RECONSIDERATION_OUTCOMES,
    reconsideration_decided,
    reconsideration_filed,
    reconsideration_window,
)
from service.domain.law.serving import record_service, service_overdue
from service.domain.law.steps import (
    LEGAL_FIELD_STEPS,
    cancel,
    check_legal_fields,
    decision_date,
    end_application,
    extend,
    issue,
    modify,
    new_order_id,
    release_device,
    supersede,
)
from service.domain.law.versions import version_at
from service.domain.profiles import LegalProfile
from service.errors import InvalidInput

__all__ = [
    "COURT_ROLES", "DEFAULT_PROFILE", "LEGAL_FIELD_STEPS", "RECONSIDERATION_OUTCOMES", "RELEASABLE", "RELEASERS",
    "RESERVED_ORDER_IDS", "SERVICE_DUE", "SERVICE_PARTIES", "Actor", "DeviceUnavailable", "InvalidInput",
    "LegalError", "LegalEvent", "LegalProfile", "OrderIdUnavailable", "OrderStatus", "Standing", "add_months",
    "add_years", "cancel", "check_legal_fields", "check_term", "decision_date", "default_expiry", "end_application",
    "expire", "extend", "issue", "modify", "monitored", "new_order_id", "profiles", "reconsideration_decided",
    "reconsideration_filed", "reconsideration_window", "record_service", "release_device", "service_overdue",
    "supersede", "term_breach", "term_limit", "undecided", "undecided_too_long", "version_at",
]
