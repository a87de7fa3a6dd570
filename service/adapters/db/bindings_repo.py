"""Device bindings: a device, and an OwnTracks topic, stand for one holder at a time (one person, in one
role, in one court's orders). An order's devices and topics are taken when a version names them
(:func:`bind`) and let go when it no longer does or ends (:func:`let_go`, :func:`settle`,
:func:`release_order`); broker usernames are one namespace (:func:`broker_user`, :func:`reserved_users`)."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from service.adapters.db import schema as t
from service.adapters.db import state_repo
from service.adapters.db.agencies_repo import agency_kinds
from service.adapters.db.times import utc
from service.adapters.db.upsert import dialect_insert
from service.domain import law
from service.domain.orders import OrderSpec

log = logging.getLogger(__name__)


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


def holders_of(spec: OrderSpec) -> list[Holder]:
    return [Holder(spec.court_id, p.role, p.person_id, p.device_id, p.owntracks_topic)
            for p in spec.parties() if p.device_id]


def stored_holders(conn: Connection, order_id: str, court_id: str | None) -> dict[str, Holder]:
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
    holders = holders_of(spec)
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


def let_go(conn: Connection, before: dict[str, Holder], after: dict[str, Holder], now: datetime) -> None:
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
    before = stored_holders(conn, order_id, court)
    let_go(conn, before, {}, now)
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
    return seen is None or utc(seen) < utc(row.retired_at)
