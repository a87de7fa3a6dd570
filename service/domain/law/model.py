"""The order law's vocabulary: an order's status and legal state, its history entries, who acts, the
errors with their stable codes, and the checks every court step makes (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

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


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


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
