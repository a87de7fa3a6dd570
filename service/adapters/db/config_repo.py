"""Agencies and orders: import (upsert with version history) and load."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from alerts.routing import Agency
from service.adapters.db import protection_repo, state_repo
from service.adapters.db import schema as t
from service.adapters.db.upsert import dialect_insert, upsert
from service.domain import ends, law, profiles
from service.domain.monitor import MOVING_ZONE_ID
from service.domain.orders import OrderSpec, parse_order
from service.domain.profiles import LegalProfile
from service.errors import InvalidInput

log = logging.getLogger(__name__)


def save_agencies(conn: Connection, agencies: Iterable[Agency], now: datetime) -> int:
    rows = [
        {"agency_id": a.agency_id, "name": a.name, "kind": a.kind, "jurisdiction": a.jurisdiction,
         "webhook_url": a.webhook_url, "escalation": dict(a.escalation) if a.escalation else None,
         "escalate_to": list(a.escalate_to) or None, "legal_profile": a.legal_profile,
         "response": dict(a.response) if a.response else None, "updated_at": now}
        for a in agencies
    ]
    if rows:
        upsert(conn, t.agencies, rows, ["agency_id"])
    return len(rows)


def load_agencies(conn: Connection) -> list[Agency]:
    rows = conn.execute(sa.select(t.agencies).order_by(t.agencies.c.agency_id)).mappings()
    return [Agency(r["agency_id"], r["name"], r["kind"], r["jurisdiction"], r["webhook_url"], r["escalation"] or None,
                   tuple(r["escalate_to"] or ()), r["legal_profile"], response=r["response"] or None) for r in rows]


def court_profile(conn: Connection, court_id: str, setting: str | None = None) -> LegalProfile:
    """The court's legal profile: its agency's ``legal_profile``, else the setting, else the law in force."""
    own = conn.execute(sa.select(t.agencies.c.legal_profile).where(t.agencies.c.agency_id == court_id)).scalar()
    return profiles.resolve(own, setting)


def agency_webhooks(conn: Connection) -> dict[str, str]:
    return dict(conn.execute(sa.select(t.agencies.c.agency_id, t.agencies.c.webhook_url)
                             .where(t.agencies.c.webhook_url.is_not(None))).all())


def agency_kinds(conn: Connection) -> dict[str, str]:
    return dict(conn.execute(sa.select(t.agencies.c.agency_id, t.agencies.c.kind)).all())


def save_order(conn: Connection, spec: OrderSpec, source: str, now: datetime,
               warnings: list[dict[str, Any]] | None = None, actor: law.Actor | None = None,
               reason: str | None = None, event: law.LegalEvent | None = None,
               effective_from: datetime | None = None) -> int:
    """Insert or replace an order; every new body is kept as a new version (taking effect ``now``, or
    ``effective_from``: the court's decision date of a modification) and
    an ``issued`` or ``modified`` entry in its legal history (or ``event``, the step that made it). An
    order that has ended is not revived: InvalidInput. Its devices and OwnTracks topics are bound to it
    in the same transaction (:func:`bind`: DeviceUnavailable when another holder has one). Returns the
    version."""
    current = conn.execute(
        sa.select(t.orders.c.version, t.orders.c.body, t.orders.c.status, t.orders.c.court_id)
        .where(t.orders.c.order_id == spec.order_id)).first()
    if current is not None and current.status != law.OrderStatus.ACTIVE.value:
        raise InvalidInput(f"order {spec.order_id} has ended ({current.status}); a new order needs a new order_id",
                           "order_id")
    if current is not None and current.court_id != spec.court_id:  # a file never moves an order (and its devices)
        raise InvalidInput(f"order {spec.order_id} is another court's order; a new order needs a new order_id",
                           "court")
    if current is not None and current.body == spec.body:
        warnings = _with(warnings, protection_repo.outside_warnings(conn, spec))
        conn.execute(sa.update(t.orders).where(t.orders.c.order_id == spec.order_id).values(warnings=warnings or None))
        return int(current.version)
    # every safety alert reaches police: an order no police agency answers for is refused (NoPoliceAgency)
    _, outside = protection_repo.police_check(conn, spec)
    warnings = _with(warnings, outside)
    before = _parties(conn, spec.order_id, None if current is None else current.court_id)
    bind(conn, spec, before, now)
    version = 1 if current is None else int(current.version) + 1
    who = actor or law.Actor(f"import:{source}"[:64], "court")
    conn.execute(sa.insert(t.order_versions).values(
        order_id=spec.order_id, version=version, body=spec.body, source=source, recorded_at=now,
        effective_from=effective_from or now,
        actor_id=who.actor_id, reason=reason))
    if event is None:
        event = law.LegalEvent(spec.order_id, "issued" if current is None else "modified", now, who.actor_id, who.role,
                               reason if reason is not None else (f"imported from {source}" if actor is None else None))
    add_order_event(conn, event, version)
    upsert(conn, t.orders, [{
        "order_id": spec.order_id, "type": spec.type, "court_id": spec.court_id, "issued_at": spec.issued_at,
        "expires_at": spec.expires_at, "status": "active", "version": version, "body": spec.body, "updated_at": now,
        "warnings": warnings or None,
    }], ["order_id"])
    conn.execute(sa.delete(t.order_parties).where(t.order_parties.c.order_id == spec.order_id))
    conn.execute(sa.insert(t.order_parties), [
        {"order_id": spec.order_id, "role": p.role, "person_id": p.person_id, "device_id": p.device_id,
         "report_interval_s": p.report_interval_s, "owntracks_topic": p.owntracks_topic} for p in spec.parties()
    ])
    _let_go(conn, before, {h.role: h for h in _holders_of(spec)}, now)
    conn.execute(sa.delete(t.zones).where(t.zones.c.order_id == spec.order_id))
    if spec.zones:
        conn.execute(sa.insert(t.zones), [
            {"order_id": spec.order_id, "zone_id": z.zone_id, "kind": z.kind, "name": z.name,
             "geometry": z.geometry, "radius_m": z.radius_m} for z in spec.zones
        ])
    kept = [z.zone_id for z in spec.zones] + [MOVING_ZONE_ID]  # the moving zone's state is kept across versions
    conn.execute(sa.delete(t.zone_membership).where(
        t.zone_membership.c.order_id == spec.order_id, t.zone_membership.c.zone_id.not_in(kept)))
    if current is not None:  # her order changed: she and its police are told (never silently)
        protection_repo.announce_change(conn, spec, version, effective_from or now, now, reason)
    return version


# -- device bindings: a device, and an OwnTracks topic, stand for one holder at a time ---------------------------

@dataclass(frozen=True, slots=True)
class Holder:
    """Who may name a device or topic: one person, in one role, in one court's orders (a respondent with two
    orders of one court wears one tracker). ``device_id``: the device (for a topic, the one it stands for)."""

    court_id: str
    role: str
    person_id: str
    device_id: str
    owntracks_topic: str | None = None

    def bound_keys(self) -> list[tuple[str, str]]:
        return [("device", self.device_id)] + ([("owntracks", self.owntracks_topic)] if self.owntracks_topic else [])

    def same(self, kind: str, court_id: str, role: str, person_id: str, device_id: str) -> bool:
        """Whether a binding row of ``kind`` with these values is this holder's."""
        return (self.court_id, self.role, self.person_id) == (court_id, role, person_id) and (
            kind == "device" or self.device_id == device_id)


def _holders_of(spec: OrderSpec) -> list[Holder]:
    return [Holder(spec.court_id, p.role, p.person_id, p.device_id, p.owntracks_topic)
            for p in spec.parties() if p.device_id]


def _parties(conn: Connection, order_id: str, court_id: str | None) -> dict[str, Holder]:
    """The order's stored parties (its version in force) as holders, by role."""
    if court_id is None:
        return {}
    p = t.order_parties.c
    rows = conn.execute(sa.select(p.role, p.person_id, p.device_id, p.owntracks_topic)
                        .where(p.order_id == order_id, p.device_id.is_not(None))).all()
    return {r.role: Holder(court_id, r.role, r.person_id, r.device_id, r.owntracks_topic) for r in rows}


SERVICE_USER = "stayaway"  # the service's broker account, unless `stayaway mqtt credentials --service-user` says


def broker_user(kind: str, ident: str) -> str:
    """The broker username a bound key stands for: the device id, or the ``{user}`` of an OwnTracks topic
    ``owntracks/{user}/{device}`` (``stayaway mqtt credentials`` makes one account per name)."""
    return ident if kind == "device" else ident.split("/")[1]


def reserved_users(conn: Connection) -> set[str]:
    """Broker usernames no order may name: the agencies' ids and the service's accounts (``stayaway`` and
    any other ``--service-user`` the credentials were made for)."""
    services = conn.execute(sa.select(t.mqtt_credentials.c.username).where(t.mqtt_credentials.c.kind == "service"))
    return set(agency_kinds(conn)) | {SERVICE_USER} | set(services.scalars())


def bind(conn: Connection, spec: OrderSpec, before: dict[str, Holder], now: datetime) -> None:
    """Take every device and OwnTracks topic ``spec`` names for its holder, or raise DeviceUnavailable (one
    answer for every reason). ``before``: the order's parties until now (what it already names is its own).

    Broker usernames are one namespace (:func:`broker_user`): a device id or OwnTracks user this order
    names anew must not be an agency's id or the service's account (:func:`reserved_users`), nor a name
    another holder has through another key (her OwnTracks user as his device id, his device id as an
    OwnTracks user, one OwnTracks user for two people's topics). What the order named already is kept:
    stored data from before this rule goes on, and ``stayaway mqtt credentials`` reports it.

    Race-free on both databases: each key's row is created if missing (``ON CONFLICT DO NOTHING``: a
    concurrent claimant waits for the first to commit) and then locked (``FOR UPDATE``; SQLite's writers
    are serialised by ``BEGIN IMMEDIATE``) before the orders naming it are read, so of two courts naming a
    free device at once exactly one wins; on PostgreSQL each broker username is also locked for the
    transaction (an advisory lock) before another key using it is read. Keys are taken in a fixed order
    (no deadlock between two orders)."""
    reserved = reserved_users(conn)
    holders = _holders_of(spec)
    seen: dict[tuple[str, str], Holder] = {}
    users: dict[str, Holder] = {}
    new: dict[tuple[str, str], bool] = {}  # (kind, ident) -> whether this order names it anew
    for h in holders:
        for kind, ident in h.bound_keys():
            field = f"{h.role}.{'device_id' if kind == 'device' else 'owntracks_topic'}"
            mine = before.get(h.role)
            fresh = mine is None or (mine.device_id if kind == "device" else mine.owntracks_topic) != ident
            user, other = broker_user(kind, ident), users.get(broker_user(kind, ident))
            if ((kind, ident) in seen and not seen[(kind, ident)].same(
                    kind, h.court_id, h.role, h.person_id, h.device_id)) or (
                    other is not None and not h.same("device", other.court_id, other.role, other.person_id, "")) or (
                    fresh and user in reserved):
                raise law.DeviceUnavailable(field)  # both parties' device or account name; an agency's, the service's
            seen[(kind, ident)] = h
            users.setdefault(user, h)
            new[(kind, ident)] = fresh
    if conn.dialect.name == "postgresql":
        for user in sorted(users):
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_lock_key(user))))
    for (kind, ident), h in sorted(seen.items()):
        field = f"{h.role}.{'device_id' if kind == 'device' else 'owntracks_topic'}"
        if new[(kind, ident)] and _user_held_elsewhere(conn, kind, ident, h):
            raise law.DeviceUnavailable(field)
        if not _take(conn, kind, ident, h, spec.order_id, not new[(kind, ident)], now):
            raise law.DeviceUnavailable(field)


def _lock_key(user: str) -> int:
    digest = hashlib.blake2b(f"stayaway broker user {user}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _user_held_elsewhere(conn: Connection, kind: str, ident: str, h: Holder) -> bool:
    """Whether another holder has the key's broker username through another key (a device id, a topic)."""
    user, b = broker_user(kind, ident), t.device_bindings.c
    rows = conn.execute(sa.select(b.kind, b.ident, b.court_id, b.role, b.person_id).where(sa.or_(
        sa.and_(b.kind == "device", b.ident == user),
        sa.and_(b.kind == "owntracks", b.ident.startswith(f"owntracks/{user}/", autoescape=True))))).all()
    return any((r.kind, r.ident) != (kind, ident) and broker_user(r.kind, r.ident) == user  # LIKE: any case
               and not h.same("device", r.court_id, r.role, r.person_id, "") for r in rows)


def _take(conn: Connection, kind: str, ident: str, h: Holder, order_id: str, kept: bool, now: datetime) -> bool:
    b = t.device_bindings.c
    mine = {"court_id": h.court_id, "role": h.role, "person_id": h.person_id, "device_id": h.device_id}
    ins = dialect_insert(conn, t.device_bindings).on_conflict_do_nothing(index_elements=["kind", "ident"])
    created = conn.execute(ins.values(kind=kind, ident=ident, bound_at=now, **mine).returning(b.kind)).first()
    row = _locked(conn, kind, ident)
    namers = [n for n in _namers(conn, kind, ident, now, exclude=order_id)
              if not h.same(kind, n.court_id, n.role, n.person_id, n.device_id)]
    if created is not None:
        return not namers  # a key no order named (a stale order in force without a row: refused)
    if h.same(kind, row.court_id, row.role, row.person_id, row.device_id):
        if row.successor is not None:  # its holder names a device it was handing over: held again
            conn.execute(sa.update(t.device_bindings).where(b.kind == kind, b.ident == ident)
                         .values(successor=None, retired_at=None))
        return True
    if namers or _handing_over(conn, row, now):
        return kept  # kept: this order named it already, beside another holder (stored data from before bindings)
    conn.execute(sa.update(t.device_bindings).where(b.kind == kind, b.ident == ident)
                 .values(bound_at=now, successor=None, retired_at=None, **mine))
    return True


def _let_go(conn: Connection, before: dict[str, Holder], after: dict[str, Holder], now: datetime) -> None:
    """After an order's new version (or its end: ``after`` empty): the keys it no longer names are kept
    by another order of their holder, held while a replaced device hands over to its successor, passed
    to another order still naming them (stored data from before bindings), or freed."""
    named = {k for h in after.values() for k in h.bound_keys()}
    for role, old in sorted(before.items()):
        new = after.get(role)
        for kind, ident in old.bound_keys():
            if (kind, ident) in named:
                continue
            successor = new.device_id if kind == "device" and new is not None and new.device_id != ident else None
            settle(conn, kind, ident, now, (old, successor) if successor else None)


def settle(conn: Connection, kind: str, ident: str, now: datetime, replaced: tuple[Holder, str] | None = None) -> None:
    """Keep, hand over, pass on or free the binding of ``(kind, ident)`` as the orders in force name it now.
    ``replaced``: its holder has just replaced this device by another: it is held until that one's first
    message (the monitor goes on reading it for the order until then, ``Monitor.add_handover``)."""
    b = t.device_bindings.c
    row = _locked(conn, kind, ident)
    if row is None:
        return
    namers = _namers(conn, kind, ident, now)
    holder = Holder(row.court_id, row.role, row.person_id, row.device_id)
    if any(holder.same(kind, n.court_id, n.role, n.person_id, n.device_id) for n in namers):
        return  # another order of its holder names it
    if replaced is not None and replaced[0].same(kind, row.court_id, row.role, row.person_id, row.device_id):
        conn.execute(sa.update(t.device_bindings).where(b.kind == kind, b.ident == ident)
                     .values(successor=replaced[1], retired_at=now))
        return
    if _handing_over(conn, row, now):
        return
    if namers:  # stored data from before bindings: another order still names it, and now holds it
        n = namers[0]
        log.warning("the %s %s passes to order %s (its holder's orders no longer name it)", kind, ident, n.order_id)
        conn.execute(sa.update(t.device_bindings).where(b.kind == kind, b.ident == ident).values(
            court_id=n.court_id, role=n.role, person_id=n.person_id, device_id=n.device_id, bound_at=now,
            successor=None, retired_at=None))
        return
    conn.execute(sa.delete(t.device_bindings).where(b.kind == kind, b.ident == ident))


def release_order(conn: Connection, order_id: str, now: datetime) -> None:
    """The order has ended: what it named is let go (:func:`settle`)."""
    court = conn.execute(sa.select(t.orders.c.court_id).where(t.orders.c.order_id == order_id)).scalar()
    before = _parties(conn, order_id, court)
    _let_go(conn, before, {}, now)
    if court is None:
        return
    b = t.device_bindings.c  # devices it was handing over
    for kind, ident in conn.execute(sa.select(b.kind, b.ident).where(
            b.court_id == court, b.successor.is_not(None),
            sa.tuple_(b.role, b.person_id).in_([(h.role, h.person_id) for h in before.values()] or [("", "")]))).all():
        settle(conn, kind, ident, now)


def _locked(conn: Connection, kind: str, ident: str) -> Any:
    b = t.device_bindings.c
    return conn.execute(sa.select(t.device_bindings).where(b.kind == kind, b.ident == ident).with_for_update()).first()


def _namers(conn: Connection, kind: str, ident: str, now: datetime, exclude: str | None = None) -> list[Any]:
    """The orders in force (not past their expiry) naming the device or topic, the earliest issued first."""
    p, o = t.order_parties.c, t.orders.c
    q = sa.select(o.order_id, o.court_id, p.role, p.person_id, p.device_id) \
        .join(t.orders, o.order_id == p.order_id) \
        .where((p.device_id if kind == "device" else p.owntracks_topic) == ident, p.device_id.is_not(None),
               o.status == law.OrderStatus.ACTIVE.value, sa.or_(o.expires_at.is_(None), o.expires_at > now)) \
        .order_by(o.issued_at, o.order_id)
    if exclude is not None:
        q = q.where(o.order_id != exclude)
    return list(conn.execute(q).all())


def _handing_over(conn: Connection, row: Any, now: datetime) -> bool:
    """A replaced device whose successor, named by an order of the same holder, has sent nothing since."""
    if row.successor is None:
        return False
    if not any(n.court_id == row.court_id and n.role == row.role and n.person_id == row.person_id
               for n in _namers(conn, "device", row.successor, now)):
        return False
    seen = state_repo.last_seen(conn, [row.successor]).get(row.successor)
    return seen is None or _utc(seen) < _utc(row.retired_at)


def add_order_event(conn: Connection, event: law.LegalEvent, version: int | None = None) -> None:
    conn.execute(sa.insert(t.order_events).values(
        order_id=event.order_id, event=event.event, at=event.at, actor_id=event.actor_id, role=event.role,
        reason=event.reason, version=version, details=_jsonable(event.details) or None))


def order_events_of(conn: Connection, order_id: str, event: str) -> list[law.LegalEvent]:
    """The order's history entries of one kind, oldest first (their times in details read back as times)."""
    from service.wire.rfc3339 import parse_ts

    c = t.order_events.c
    rows = conn.execute(sa.select(c.event, c.at, c.actor_id, c.role, c.reason, c.details)
                        .where(c.order_id == order_id, c.event == event).order_by(c.id)).all()
    out = []
    for r in rows:
        details = {k: (parse_ts(v) or v) if k in ("filed_at", "decided_at", "window_ends") and isinstance(v, str)
                   else v for k, v in (r.details or {}).items()}
        out.append(law.LegalEvent(order_id, r.event, _utc(r.at), r.actor_id, r.role, r.reason, details))
    return out


def in_force_from(conn: Connection, order_id: str) -> datetime | None:
    """When the order's current version took effect."""
    c = t.order_versions.c
    row = conn.execute(sa.select(sa.func.coalesce(c.effective_from, c.recorded_at)).where(c.order_id == order_id)
                       .order_by(c.version.desc()).limit(1)).scalar()
    return _utc(row)


def load_standing(conn: Connection, order_id: str) -> law.Standing | None:
    r = conn.execute(sa.select(t.orders).where(t.orders.c.order_id == order_id)).mappings().first()
    if r is None:
        return None
    return law.Standing(r["order_id"], r["type"], r["court_id"], r["issued_at"], r["expires_at"],
                        law.OrderStatus(r["status"]), r["extensions"], r["ended_at"], r["superseded_by"])


def save_standing(conn: Connection, standing: law.Standing, now: datetime, grace: timedelta = ends.GRACE,
                  reason: str | None = None) -> None:
    """The order's legal state; ``updated_at`` moves, so a running serve picks the change up. An end starts
    the order's grace (``service.domain.ends``): from the end, or from now if it is recorded later."""
    values: dict[str, Any] = {"status": standing.status.value, "expires_at": standing.expires_at,
                              "extensions": standing.extensions, "ended_at": standing.ended_at,
                              "superseded_by": standing.superseded_by, "updated_at": now}
    if standing.status != law.OrderStatus.ACTIVE:
        values["grace_until"] = ends.grace_until(standing.ended_at or now, now, grace)
    was = conn.execute(sa.select(t.orders.c.status).where(t.orders.c.order_id == standing.order_id)).scalar()
    conn.execute(sa.update(t.orders).where(t.orders.c.order_id == standing.order_id).values(**values))
    if standing.status != law.OrderStatus.ACTIVE:
        release_order(conn, standing.order_id, now)
        if was == law.OrderStatus.ACTIVE.value:  # it ends now: told to every agency concerned and to her phone
            protection_repo.announce_end(conn, standing, reason, now, grace)


def end_order(conn: Connection, order_id: str, status: str, now: datetime, grace_until: datetime | None = None) -> None:
    """The order's time is up (or it ended otherwise): no longer monitored, but for her panic until
    ``grace_until`` (default: ``ends.GRACE`` from the end, or from now if later)."""
    current = load_standing(conn, order_id)
    if current is None or current.status != law.OrderStatus.ACTIVE:
        return
    ended_at = current.expires_at if status == "expired" and current.expires_at is not None else now
    conn.execute(sa.update(t.orders).where(t.orders.c.order_id == order_id).values(
        status=status, ended_at=ended_at, updated_at=now,
        grace_until=grace_until if grace_until is not None else ends.grace_until(ended_at, now)))
    release_order(conn, order_id, now)


def orders_in_grace(conn: Connection, now: datetime, order_ids: Iterable[str] | None = None
                    ) -> list[tuple[OrderSpec, ends.Ending]]:
    """Ended orders whose grace runs at ``now`` (her panic still reaches police), with how they ended."""
    c = t.orders.c
    q = sa.select(c.order_id, c.body, c.status, c.ended_at, c.grace_until).where(
        c.status != "active", c.grace_until.is_not(None), c.grace_until > now).order_by(c.order_id)
    if order_ids is not None:
        q = q.where(c.order_id.in_(list(order_ids)))
    out = []
    for r in conn.execute(q):
        try:
            spec = parse_order(r.body)
        except InvalidInput as exc:
            log.error("ended order %s does not parse: its grace is not kept (%s)", r.order_id, exc)
            continue
        out.append((spec, ends.Ending(r.status, _utc(r.ended_at) or _utc(r.grace_until), _utc(r.grace_until))))
    return out


def _with(warnings: list[dict[str, Any]] | None, more: Iterable[Any]) -> list[dict[str, Any]]:
    """Stored set-up warnings with ``more`` (SetupWarning) added, each once."""
    out = list(warnings or [])
    for w in more:
        item = {"code": w.code, "message": w.message, "field": w.field}
        if item not in out:
            out.append(item)
    return out


def order_warnings(conn: Connection, order_id: str) -> list[dict[str, Any]]:
    return conn.execute(sa.select(t.orders.c.warnings).where(t.orders.c.order_id == order_id)).scalar() or []


def order_ending(conn: Connection, order_id: str) -> dict[str, Any]:
    """When the order ended and until when her panic still reaches police (None while in force)."""
    from service.wire.rfc3339 import format_ts

    r = conn.execute(sa.select(t.orders.c.ended_at, t.orders.c.grace_until).where(
        t.orders.c.order_id == order_id)).first()
    return {"ended_at": format_ts(_utc(r.ended_at)) if r is not None and r.ended_at else None,
            "panic_reaches_police_until": format_ts(_utc(r.grace_until)) if r is not None and r.grace_until else None}


def device_roles(conn: Connection, device_id: str) -> list[tuple[str, str]]:
    """(order id, role) of every order in force that names the device."""
    p, o = t.order_parties.c, t.orders.c
    q = sa.select(p.order_id, p.role).join(t.orders, o.order_id == p.order_id).where(
        p.device_id == device_id, o.status == "active")
    return [(order_id, role) for order_id, role in conn.execute(q)]


def load_order_any(conn: Connection, order_id: str) -> OrderSpec | None:
    """The order's current version, whatever its status (None: unknown, or it no longer parses)."""
    body = conn.execute(sa.select(t.orders.c.body).where(t.orders.c.order_id == order_id)).scalar()
    try:
        return parse_order(body) if body is not None else None
    except InvalidInput:
        return None


def reminders_sent(conn: Connection, order_ids: Iterable[str]) -> tuple[dict[str, set[str]], dict[str, datetime]]:
    """Per order: the expiry reminders already sent (their keys), and its last daily "undecided" reminder."""
    c = t.order_events.c
    ids = list(order_ids)
    sent: dict[str, set[str]] = {}
    undecided: dict[str, datetime] = {}
    if not ids:
        return sent, undecided
    q = sa.select(c.order_id, c.event, c.at, c.details).where(
        c.order_id.in_(ids), c.event.in_(("reminder", "undecided")))
    for order_id, event, at, details in conn.execute(q):
        if event == "reminder":
            sent.setdefault(order_id, set()).update((details or {}).get("keys", ()))
        else:
            at = _utc(at)
            undecided[order_id] = max(at, undecided.get(order_id, at))
    return sent, undecided


def noticed_orders(conn: Connection, order_ids: Iterable[str] | None, event: str) -> set[str]:
    q = sa.select(t.order_events.c.order_id).where(t.order_events.c.event == event).distinct()
    if order_ids is not None:
        q = q.where(t.order_events.c.order_id.in_(list(order_ids)))
    return set(conn.execute(q).scalars())


MAX_EARLIER_VERSIONS = 20  # kept in memory per order for late reports: older ones are history only


def version_timelines(conn: Connection, order_ids: Iterable[str]) -> dict[str, tuple[list[tuple[datetime, OrderSpec]],
                                                                                      datetime | None]]:
    """Per order: its earlier versions (when each took effect, parsed; at most MAX_EARLIER_VERSIONS, the
    newest) and when the current version took effect."""
    ids = list(order_ids)
    if not ids:
        return {}
    c = t.order_versions.c
    q = sa.select(c.order_id, c.version, c.body, sa.func.coalesce(c.effective_from, c.recorded_at).label("eff")) \
        .where(c.order_id.in_(ids)).order_by(c.order_id, c.version)
    rows: dict[str, list[Any]] = {}
    for r in conn.execute(q):
        rows.setdefault(r.order_id, []).append(r)
    out: dict[str, tuple[list[tuple[datetime, OrderSpec]], datetime | None]] = {}
    for order_id, versions in rows.items():
        earlier = []
        for r in versions[:-1][-MAX_EARLIER_VERSIONS:]:
            try:
                earlier.append((_utc(r.eff), parse_order(r.body)))
            except InvalidInput:
                log.warning("order %s version %s does not parse; late reports use the next one", order_id, r.version)
        out[order_id] = (earlier, _utc(versions[-1].eff))
    return out


def order_history(conn: Connection, order_id: str) -> list[dict[str, Any]]:
    c = t.order_events.c
    q = sa.select(c.event, c.at, c.actor_id, c.role, c.reason, c.version, c.details).where(c.order_id == order_id)
    return [dict(r) for r in conn.execute(q.order_by(c.id)).mappings()]


def order_versions(conn: Connection, order_id: str) -> list[dict[str, Any]]:
    c = t.order_versions.c
    q = sa.select(c.version, c.body, c.source, c.recorded_at, c.effective_from, c.actor_id, c.reason) \
        .where(c.order_id == order_id).order_by(c.version)
    return [dict(r) for r in conn.execute(q).mappings()]


def add_service_record(conn: Connection, order_id: str, party: str, served_at: datetime, served_by: str,
                       method: str | None, now: datetime) -> None:
    conn.execute(sa.insert(t.service_records).values(order_id=order_id, party=party, served_at=served_at,
                                                     served_by=served_by, method=method, recorded_at=now))
    conn.execute(sa.update(t.orders).where(t.orders.c.order_id == order_id).values(updated_at=now))


def service_records(conn: Connection, order_ids: Iterable[str] | None = None) -> dict[str, dict[str, datetime]]:
    """order id -> party -> when first served."""
    c = t.service_records.c
    q = sa.select(c.order_id, c.party, sa.func.min(c.served_at)).group_by(c.order_id, c.party)
    if order_ids is not None:
        q = q.where(c.order_id.in_(list(order_ids)))
    out: dict[str, dict[str, datetime]] = {}
    for order_id, party, served_at in conn.execute(q):
        out.setdefault(order_id, {})[party] = _utc(served_at)
    return out


def _utc(value: Any) -> Any:
    from datetime import UTC

    if isinstance(value, datetime) and value.tzinfo is None:  # SQLite's MIN() returns the stored text's value
        return value.replace(tzinfo=UTC)
    return value


def _jsonable(details: dict[str, Any]) -> dict[str, Any]:
    from service.wire.rfc3339 import format_ts

    return {k: format_ts(v) if isinstance(v, datetime) else v for k, v in details.items()}


def load_orders(conn: Connection, order_ids: Iterable[str] | None = None) -> list[OrderSpec]:
    """Active orders. One that no longer parses is logged and skipped; the others load."""
    q = sa.select(t.orders.c.order_id, t.orders.c.body).where(t.orders.c.status == "active").order_by(t.orders.c.order_id)
    if order_ids is not None:
        q = q.where(t.orders.c.order_id.in_(list(order_ids)))
    specs = []
    for order_id, body in conn.execute(q):
        try:
            specs.append(parse_order(body))
        except InvalidInput as exc:
            log.error("stored order %s does not parse and is NOT monitored: %s (field %s)", order_id, exc, exc.field)
    return specs


def changed_since(conn: Connection, since: datetime | None) -> tuple[list[str], bool, datetime | None]:
    """Order ids updated after ``since``, whether agencies changed, and the newest stamp seen."""
    stamp_o = conn.execute(sa.select(sa.func.max(t.orders.c.updated_at))).scalar()
    stamp_a = conn.execute(sa.select(sa.func.max(t.agencies.c.updated_at))).scalar()
    newest = max([s for s in (stamp_o, stamp_a) if s is not None], default=None)
    if since is None:
        return [], False, newest
    ids = [r for (r,) in conn.execute(sa.select(t.orders.c.order_id).where(t.orders.c.updated_at > since))]
    return ids, stamp_a is not None and stamp_a > since, newest


def order_rows(conn: Connection) -> list[dict[str, Any]]:
    q = sa.select(t.orders.c.order_id, t.orders.c.type, t.orders.c.court_id, t.orders.c.issued_at,
                  t.orders.c.expires_at, t.orders.c.status, t.orders.c.version).order_by(t.orders.c.order_id)
    return [dict(r) for r in conn.execute(q).mappings()]
