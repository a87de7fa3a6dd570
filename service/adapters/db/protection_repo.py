"""Protection never stops silently, in the write path every order change takes (``config_repo.save_order``
and ``save_standing``: the court's steps and imports alike), in the change's own transaction: the police
agency that answers for an order is found (or the order is refused), and every end and new version is
announced to the agencies concerned and to her phone (``service.domain.ends``).

The monitor announces what its own clock does (expiry, reminders); this module what a person does.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from alerts import JurisdictionIndex
from service.adapters.db import agencies_repo, alerts_repo
from service.adapters.db import schema as t
from service.domain import ends, law
from service.domain.disclosure import may_send
from service.domain.messages import AgencyNotice, DeviceCommand
from service.domain.orders import OrderSpec
from service.domain.responsibility import (
    UnknownPoliceAgency,
    require_police,
    responsible_police,
    zones_outside,
)
from service.domain.setup_checks import SetupWarning


def police_check(conn: Connection, spec: OrderSpec) -> tuple[str, list[SetupWarning]]:
    """The order's responsible police agency, and a warning naming each zone outside every police
    jurisdiction. Raises ``NoPoliceAgency`` (no agency answers for it: refused) or ``UnknownPoliceAgency``."""
    index, kinds = _agencies(conn)
    police = require_police(spec, index, kinds)
    return police, _outside(spec, index, police)


def orders_without_police(conn: Connection, now: datetime) -> list[str]:
    """The orders in force or in their grace that no police agency would answer for with the agencies
    stored now (one naming an agency that is no longer a police agency counts: the court named it)."""
    from service.adapters.db.config_repo import load_orders
    from service.adapters.db.standing_repo import orders_in_grace

    index, kinds = _agencies(conn)
    out = []
    for spec in [*load_orders(conn), *(s for s, _ in orders_in_grace(conn, now))]:
        try:
            police = responsible_police(spec, index, kinds)
        except UnknownPoliceAgency:
            police = None
        if police is None:
            out.append(spec.order_id)
    return sorted(set(out))


def outside_warnings(conn: Connection, spec: OrderSpec) -> list[SetupWarning]:
    """The warnings of :func:`police_check`, without refusing (an order stored already)."""
    index, kinds = _agencies(conn)
    return _outside(spec, index, responsible_police(spec, index, kinds, strict=False))


def _outside(spec: OrderSpec, index: JurisdictionIndex, police: str | None) -> list[SetupWarning]:
    goes = f"its alerts go to {police}, the police agency that answers for this order" if police else \
        "no police agency answers for this order"
    return [SetupWarning("zone_outside_jurisdictions",
                         f"zone {zone_id} lies outside every imported police jurisdiction: {goes}", "zones")
            for zone_id in zones_outside(spec, index)]


def announce_end(conn: Connection, ended: law.Standing, reason: str | None, now: datetime,
                 grace: timedelta = ends.GRACE) -> None:
    """An end by the court's step (cancellation, supersession, rejection, withdrawal): told to the court,
    the responsible police agency, every agency that received one of its alerts, and her phone."""
    spec = _load_order_any(conn, ended.order_id)
    if spec is None:
        return
    at = ended.ended_at or now
    ending = ends.Ending(ended.status.value, at, ends.grace_until(at, now, grace))
    received = {r for (recipients,) in conn.execute(sa.select(t.alerts.c.recipients).where(
        t.alerts.c.order_id == ended.order_id)) for r in recipients or ()}
    agencies, phone = ends.end_notices(spec, ending, reason, _police(conn, spec), sorted(received), now,
                                       ended.superseded_by)
    _write(conn, spec, agencies, phone, now, ended=True)


def announce_change(conn: Connection, spec: OrderSpec, version: int, effective_from: datetime, now: datetime,
                    reason: str | None = None) -> None:
    """A new version of her order (zones, distances, devices, its term): her phone is told that it changed
    and from when (not what: the court serves the order), and so is the responsible police agency."""
    police = _police(conn, spec)
    agencies = [AgencyNotice(police, spec.order_id, f"version:{version}", {
        "kind": "order_changed", "order_id": spec.order_id, "version": version, "effective_from": effective_from,
        "reason": reason, "at": now})] if police else []
    phone = ends.change_notice(spec, version, effective_from)
    _write(conn, spec, agencies, [phone] if phone is not None else [], now)


def _police(conn: Connection, spec: OrderSpec) -> str | None:
    index, kinds = _agencies(conn)
    return responsible_police(spec, index, kinds, strict=False)


def _load_order_any(conn: Connection, order_id: str) -> OrderSpec | None:
    from service.adapters.db.config_repo import load_order_any

    return load_order_any(conn, order_id)


def _device_roles(conn: Connection, device_id: str) -> list[tuple[str, str]]:
    from service.adapters.db.config_repo import device_roles

    return device_roles(conn, device_id)


def _load_agencies(conn: Connection) -> list:  # type: ignore[type-arg]
    return agencies_repo.load_agencies(conn)


_INDEXES: dict[bytes, tuple[JurisdictionIndex, dict[str, str]]] = {}  # by the agencies' content: never stale


def _agencies(conn: Connection) -> tuple[JurisdictionIndex, dict[str, str]]:
    """The stored agencies' jurisdiction index and kinds. Building the index (shapely) is what costs: it is
    kept by a digest of the rows it is built from, so importing 5,000 orders builds it once."""
    rows = conn.execute(sa.select(t.agencies.c.agency_id, t.agencies.c.kind, t.agencies.c.jurisdiction)
                        .order_by(t.agencies.c.agency_id)).all()
    key = hashlib.sha256(orjson.dumps([list(r) for r in rows])).digest()
    cached = _INDEXES.get(key)
    if cached is None:
        agencies = _load_agencies(conn)
        cached = (JurisdictionIndex(agencies), {a.agency_id: a.kind for a in agencies})
        if len(_INDEXES) >= 8:
            _INDEXES.clear()
        _INDEXES[key] = cached
    return cached


def _write(conn: Connection, spec: OrderSpec, agencies: list[AgencyNotice], phone: list[DeviceCommand],
           now: datetime, ended: bool = False) -> None:
    alerts_repo.save_agency_notices(conn, agencies, now)
    allowed = []
    for notice in phone:  # the disclosure rule, as in the monitor: never to a device that is a respondent
        others = _device_roles(conn, notice.device_id)  # the orders in force naming it (this one, if in force)
        if ended and any(role == "respondent" for _, role in others):
            continue  # her released phone is now someone's tracker: nothing of hers goes to it
        if may_send(notice.channel, spec.order_id, [(spec.order_id, "victim"), *others]):
            allowed.append(notice)
    alerts_repo.save_commands(conn, allowed, now)
