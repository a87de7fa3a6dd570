"""Per-device MQTT passwords and a Mosquitto ACL (``stayaway mqtt credentials``).

Every enrolled device, every agency, every OwnTracks user (a victim's OwnTracks app: it may write
only its own ``owntracks/{user}/{device}`` topic) and the service get a broker account. Devices use ``%u``
patterns: a device may publish only on its own ``location``, ``status`` and ``panic`` topics and read
only its own ``commands`` and ``notices``. An agency console may read only its own ``alerts`` and ``notices``. The
service account reads every device topic and writes alerts, commands and notices. Anything not
granted is denied (Mosquitto's default once an ACL file is in use), so no account can subscribe to
``#`` and see another's messages.

Broker usernames are one namespace: a device id, an OwnTracks user, an agency id and the service's
account each need the name to themselves. Orders cannot claim a name another holder has
(``bindings_repo.bind``); stored data from before that rule may. Then the name stays with the service, the
agency, or the holder whose order was entered first (with every key of that holder's); the other
claims get no account and are reported (:class:`AccountsSkipped`, naming the orders), after everything
else has been written: one bad order never blocks rotation for everyone. Patterns grant agencies'
and OwnTracks apps' accounts no device topic (``topic deny``), whatever ids orders name. A name whose
kind of account changes (a device id that comes back as an OwnTracks user) gets a new password.

An order's accounts outlast its end by its grace (``orders.grace_until``, ``service.domain.ends``): her
phone's panic still reaches police then, and his tracker's reports are still stored as evidence, so both
keep their accounts until the grace ends; run after it, the command removes them. A name an order in force
claims is its, whatever an ended order in its grace named under it (a device the court released).

Passwords are 144 random bits, made here and shown once (``new-credentials.json``, mode 0600); only
Mosquitto's hash is kept (its ``$7$`` format: PBKDF2-SHA512, a 12-byte salt, 64-byte digest, both
base64), in the database and in the password file, so the files can be written again at any time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from service.adapters.db import bindings_repo
from service.adapters.db import schema as t
from service.errors import InvalidInput

ITERATIONS = 101  # mosquitto_passwd's default; the passwords are random, not words
_USERNAME = re.compile(r"[A-Za-z0-9._-]{1,64}")  # device and agency ids: no MQTT wildcard, no '/'


@dataclass(frozen=True, slots=True)
class Issued:
    username: str
    kind: str  # device | agency | owntracks | service
    password: str


@dataclass(frozen=True, slots=True)
class Collision:
    """A broker username more than one account claims: ``kept`` has it, the ``skipped`` claims get none."""

    username: str
    kept: str
    skipped: tuple[str, ...]


class AccountsSkipped(InvalidInput):
    """Raised by :func:`generate` after it wrote every other account: these names stay with one claimant
    and the others (orders' devices or OwnTracks topics) get no account. ``issued``: the new passwords
    written (``new-credentials.json``). For the admin: it names the orders."""

    def __init__(self, collisions: list[Collision], issued: list[Issued]) -> None:
        self.collisions, self.issued = collisions, issued
        super().__init__("\n".join([
            f"{len(collisions)} broker username(s) claimed by more than one account; the rest is written:",
            *(f"  {c.username}: {c.kept} keeps it; no account for {'; '.join(c.skipped)}" for c in collisions),
            ("have the order's court replace or release that device or topic "
             "(POST /api/v1/orders/{id}/replace-device, release-device), then run this again")]))


@dataclass
class _Key:
    """A device id or an OwnTracks topic as the orders in force name it, under one broker username."""

    kind: str  # device | owntracks
    ident: str
    rank: int  # the first entered order naming it comes first
    in_force: bool = False  # an order in force names it (else only ended orders in their grace)
    holders: set[tuple[str, str, str]] = field(default_factory=set)  # (court, role, person)
    orders: dict[str, str] = field(default_factory=dict)  # order -> role

    def describe(self) -> str:
        what = "the device" if self.kind == "device" else f"the OwnTracks topic {self.ident}"
        orders = ", ".join(f"{o} ({role})" for o, role in sorted(self.orders.items()))
        return f"{what} of order{'s' if len(self.orders) > 1 else ''} {orders}"


def mosquitto_hash(password: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """Mosquitto 2's ``$7$`` password hash (what ``mosquitto_passwd`` writes)."""
    salt = salt if salt is not None else secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, 64)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def mosquitto_verify(password: str, stored: str) -> bool:
    """False for a wrong password and for a hash that is not Mosquitto's ``$7$``."""
    try:
        _, alg, iterations, salt, digest = stored.split("$")
        if alg != "7":
            return False
        ours = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(salt), int(iterations), 64)
        return hmac.compare_digest(ours, base64.b64decode(digest))
    except (ValueError, TypeError):
        return False


def acl_text(service_user: str, agencies: Iterable[str], owntracks: dict[str, list[str]] | None = None,
             devices: Iterable[str] = ()) -> str:
    """``devices``: the accounts that are devices (an OwnTracks user may be its holder's own device's)."""
    devices = set(devices)
    lines = [
        "# stayaway: generated by `stayaway mqtt credentials`; every other topic is denied",
        "",
        f"user {service_user}",
        "topic read stayaway/v1/devices/+/location",
        "topic read stayaway/v1/devices/+/status",
        "topic read stayaway/v1/devices/+/panic",
        "topic write stayaway/v1/devices/+/commands",
        "topic write stayaway/v1/devices/+/notices",
        "topic write stayaway/v1/agencies/+/alerts",
        "topic write stayaway/v1/agencies/+/notices",
        "topic read owntracks/+/+",
        "",
    ]
    for user, topics in sorted((owntracks or {}).items()):  # an OwnTracks app: its user, its own topics
        lines += [f"user {user}", *(f"topic write {topic}" for topic in sorted(topics)),
                  *([] if user in devices else [f"topic deny stayaway/v1/devices/{user}/#"]), ""]
    for agency in sorted(agencies):
        lines += [f"user {agency}", f"topic read stayaway/v1/agencies/{agency}/alerts",
                  f"topic read stayaway/v1/agencies/{agency}/notices", f"topic deny stayaway/v1/devices/{agency}/#", ""]
    # devices: the username is the device id. Mosquitto applies patterns to every account; an agency's or
    # an OwnTracks app's account is denied the topics of a device of its name (Mosquitto reads a user's
    # denials first), and the service's name is never an order's device (refused when an order is saved;
    # skipped here), so patterns grant them nothing.
    lines += [
        "pattern write stayaway/v1/devices/%u/location",
        "pattern write stayaway/v1/devices/%u/status",
        "pattern write stayaway/v1/devices/%u/panic",
        "pattern read stayaway/v1/devices/%u/commands",
        "pattern read stayaway/v1/devices/%u/notices",
        "",
    ]
    return "\n".join(lines)


def generate(engine: Engine, clock: Callable[[], datetime], out_dir: Path,
             service_user: str = bindings_repo.SERVICE_USER, rotate: Iterable[str] = ()) -> list[Issued]:
    """Accounts for every enrolled device, OwnTracks user and agency (and the service) that has none yet,
    or is named in ``rotate``; writes ``passwd`` and ``acl`` for Mosquitto and, if any password is new,
    ``new-credentials.json`` (0600). Returns the new ones. A name claimed by more than one account is
    given to one (:func:`_accounts`); once every file is written, :class:`AccountsSkipped` names the rest."""
    if not _USERNAME.fullmatch(service_user):
        raise InvalidInput("the service user must be 1-64 of A-Z a-z 0-9 . _ -", "service_user")
    rotate = set(rotate)
    with engine.begin() as conn:
        now = clock()
        agencies = {a for (a,) in conn.execute(sa.select(t.agencies.c.agency_id)) if _usable(a)}
        wanted, owntracks, collisions = _accounts(_keys(conn, now), agencies, service_user)
        unknown = rotate - set(wanted)
        if unknown:
            raise InvalidInput(f"no such account to rotate: {', '.join(sorted(unknown))}", "rotate")
        c = t.mqtt_credentials.c
        stored = {r.username: (r.kind, r.password_hash) for r in conn.execute(sa.select(
            c.username, c.kind, c.password_hash))}
        issued = []
        for username, kind in sorted(wanted.items()):
            if username in stored and username not in rotate and stored[username][0] == kind:
                continue  # a name whose kind of account changed gets a new password: it is someone else's now
            password = secrets.token_urlsafe(18)
            stored[username] = (kind, mosquitto_hash(password))
            conn.execute(sa.delete(t.mqtt_credentials).where(c.username == username))
            conn.execute(sa.insert(t.mqtt_credentials).values(username=username, kind=kind,
                                                              password_hash=stored[username][1], created_at=now))
            issued.append(Issued(username, kind, password))
    out_dir.mkdir(parents=True, exist_ok=True)
    _write(out_dir / "passwd", "".join(f"{u}:{stored[u][1]}\n" for u in sorted(wanted)), 0o640)
    _write(out_dir / "acl", acl_text(service_user, [u for u, k in wanted.items() if k == "agency"], owntracks,
                                     [u for u, k in wanted.items() if k == "device"]), 0o644)
    if issued:
        _write(out_dir / "new-credentials.json",
               json.dumps([{"username": i.username, "kind": i.kind, "password": i.password} for i in issued], indent=1),
               0o600)
    if collisions:
        raise AccountsSkipped(collisions, issued)
    return issued


def _keys(conn: Connection, now: datetime) -> dict[str, list[_Key]]:
    """Per broker username, the device ids and OwnTracks topics orders in force, and ended orders still in
    their grace at ``now``, name under it, the first entered order's first (as migration 0015 ranks stored
    orders). A name an order in force claims drops the claims of ended orders only (no collision: the
    court released the device, or the grace is all that is left of the other order)."""
    o, p, v = t.orders.c, t.order_parties.c, t.order_versions.c
    first = sa.select(v.order_id, sa.func.min(v.recorded_at).label("at")).group_by(v.order_id).subquery()
    in_grace = sa.and_(o.status != "active", o.grace_until.is_not(None), o.grace_until > now)
    rows = conn.execute(
        sa.select(o.order_id, o.court_id, o.status, p.role, p.person_id, p.device_id, p.owntracks_topic)
        .join(t.order_parties, p.order_id == o.order_id).outerjoin(first, first.c.order_id == o.order_id)
        .where(sa.or_(o.status == "active", in_grace), p.device_id.is_not(None))
        .order_by(first.c.at.is_(None), first.c.at, o.order_id, p.role)).all()
    keys: dict[tuple[str, str], _Key] = {}
    for r in rows:
        for kind, ident in (("device", r.device_id), ("owntracks", r.owntracks_topic)):
            if not ident or (kind == "owntracks" and ident.count("/") != 2):
                continue
            key = keys.setdefault((kind, ident), _Key(kind, ident, len(keys)))
            key.holders.add((r.court_id, r.role, r.person_id))
            key.orders.setdefault(r.order_id, r.role)
            key.in_force = key.in_force or r.status == "active"
    out: dict[str, list[_Key]] = {}
    for key in keys.values():
        user = bindings_repo.broker_user(key.kind, key.ident)
        if _usable(user):
            out.setdefault(user, []).append(key)
    return {user: [k for k in claims if k.in_force] if any(k.in_force for k in claims) else claims
            for user, claims in out.items()}


def _accounts(keys: dict[str, list[_Key]], agencies: set[str], service_user: str
              ) -> tuple[dict[str, str], dict[str, list[str]], list[Collision]]:
    """Who has each broker username (pure): ``{username: kind}``, the OwnTracks users' topics, and the
    names more than one account claims. The service keeps its name, an agency its id; otherwise the
    first entered key keeps it, with every key that shares a holder with it (one person's device and
    OwnTracks app are one account, a device kept by two orders from before bindings is one device)."""
    wanted = {service_user: "service"}
    collisions = []
    if service_user in agencies:
        collisions.append(Collision(service_user, "the service account", (f"agency {service_user}",)))
    wanted.update({a: "agency" for a in agencies if a != service_user})
    owntracks: dict[str, list[str]] = {}
    for user, claims in sorted(keys.items()):
        if user in wanted:
            kept, keeper = [], ("the service account" if wanted[user] == "service" else f"agency {user}")
        else:
            first = min(claims, key=lambda k: k.rank)
            kept = [k for k in claims if k.holders & first.holders]
            keeper = first.describe()
            wanted[user] = "device" if any(k.kind == "device" for k in kept) else "owntracks"
            for k in kept:
                if k.kind == "owntracks":
                    owntracks.setdefault(user, []).append(k.ident)
        skipped = sorted((k for k in claims if k not in kept), key=lambda k: k.rank)
        if skipped:
            collisions.append(Collision(user, keeper, tuple(k.describe() for k in skipped)))
    return wanted, owntracks, collisions


def _usable(name: str) -> bool:
    return bool(_USERNAME.fullmatch(name))


def _write(path: Path, text: str, mode: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
