"""Sign-in, sessions, API tokens and the access audit (the I/O side of ``service.domain.access``).

- Passwords are hashed with Argon2id (argon2-cffi's defaults), at least 12 characters.
- Every officer account has TOTP (RFC 6238, pyotp) as its second factor; a code is accepted once
  (its time step must be newer than the last one used) and one step of clock drift either way.
- A session token is 256 random bits (``secrets.token_urlsafe(32)``), sent as a Bearer token and
  stored only as its SHA-256. It ends after 30 minutes without a request, and 12 hours after
  sign-in whatever happens.
- 5 failed sign-ins for a name within 15 minutes lock it until the oldest of them is 15 minutes
  old; while locked even the right password fails (and says so).
- API tokens (``st_`` + 256 random bits) carry a role and an agency, for integrations.
- Every sign-in (success and failure), sign-out, permission change, export and read of victim
  data is an ``access_audit`` row: who, what, when (UTC), from where, why. Nothing deletes them.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pyotp
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Connection, Engine

from service.adapters.db import schema as t
from service.domain.access import ACCOUNT_ROLES, OFFICER_ROLES, Principal, Role
from service.errors import StayawayError
from service.mqtt_credentials import mosquitto_verify

log = logging.getLogger(__name__)
IDLE = timedelta(minutes=30)
ABSOLUTE = timedelta(hours=12)
LOCKOUT_FAILURES = 5
LOCKOUT_WINDOW = timedelta(minutes=15)
MIN_PASSWORD_CHARS = 12
TOUCH_EVERY = timedelta(seconds=60)  # last_seen_at is written at most this often (fewer writes)
TOKEN_PREFIX = "st_"  # API tokens
SESSION_PREFIX = "ss_"  # sessions: the two never mistaken for each other
ISSUER = "stayaway"


class AuthError(StayawayError):
    """``code``: bad_credentials | locked | bad_input; the message never says which factor failed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True, slots=True)
class NewAccount:
    account_id: str
    totp_secret: str  # shown once, to load into the officer's authenticator app
    provisioning_uri: str


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Auth:
    def __init__(self, engine: Engine, clock: Callable[[], datetime], hasher: PasswordHasher | None = None) -> None:
        self.engine, self.clock = engine, clock
        self.hasher = hasher or PasswordHasher()
        self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))  # unknown names cost the same time

    # -- accounts and tokens (the CLI and the admins) ------------------------------------------------
    def create_account(self, account_id: str, password: str, role: str, agency_id: str | None,
                       by: str = "cli") -> NewAccount:
        role_ = _role(role, ACCOUNT_ROLES)
        if role_ in OFFICER_ROLES and not agency_id:
            raise AuthError("bad_input", "an officer account needs its agency")
        if len(password) < MIN_PASSWORD_CHARS:
            raise AuthError("bad_input", f"a password has at least {MIN_PASSWORD_CHARS} characters")
        secret = pyotp.random_base32()
        with self.engine.begin() as conn:
            now = self.clock()
            if conn.execute(sa.select(t.accounts.c.account_id).where(t.accounts.c.account_id == account_id)).first():
                raise AuthError("bad_input", f"account {account_id} exists")
            conn.execute(sa.insert(t.accounts).values(
                account_id=account_id, role=role_.value, agency_id=agency_id, password_hash=self.hasher.hash(password),
                totp_secret=secret, created_at=now))
            self._audit(conn, by, None, "permission_change", "account", account_id, None, None, "ok",
                        {"granted": role_.value, "agency_id": agency_id})
        uri = pyotp.TOTP(secret).provisioning_uri(name=account_id, issuer_name=ISSUER)
        return NewAccount(account_id, secret, uri)

    def create_token(self, name: str, role: str, agency_id: str | None, by: str = "cli") -> str:
        role_ = _role(role, OFFICER_ROLES)
        if not agency_id:
            raise AuthError("bad_input", "an API token needs its agency")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            now = self.clock()
            if conn.execute(sa.select(t.api_tokens.c.name).where(t.api_tokens.c.name == name)).first():
                raise AuthError("bad_input", f"a token named {name} exists")
            conn.execute(sa.insert(t.api_tokens).values(token_hash=token_hash(token), name=name, role=role_.value,
                                                        agency_id=agency_id, created_at=now))
            self._audit(conn, by, None, "permission_change", "api_token", name, None, None, "ok",
                        {"granted": role_.value, "agency_id": agency_id})
        return token

    # -- signing in and out --------------------------------------------------------------------------
    def sign_in(self, account_id: str, password: str, totp_code: str, from_addr: str | None) -> str:
        """A new session token, or AuthError. Audited either way: the failure is committed before it is
        raised (it counts towards the lockout)."""
        failure: AuthError | None = None
        token = SESSION_PREFIX + secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            now = self.clock()
            # the account row locked for this transaction (PostgreSQL; SQLite's writer holds the database):
            # concurrent sign-ins neither slip past the lockout count nor reuse a code
            row = conn.execute(sa.select(t.accounts).where(t.accounts.c.account_id == account_id)
                               .with_for_update()).mappings().first()
            if self._locked(conn, account_id, now):
                self._audit(conn, account_id, None, "sign_in", "account", account_id, from_addr, None, "denied",
                            {"why": "locked"})
                failure = AuthError("locked", "too many failed sign-ins: try again in 15 minutes")
            else:
                ok_password = self._verify(row["password_hash"] if row else self._dummy_hash, password)
                step = _totp_step(row["totp_secret"], totp_code, now) if row is not None else None
                fresh = step is not None and row is not None and step > row["totp_last_step"]
                if row is None or row["disabled_at"] is not None or not ok_password or not fresh:
                    self._audit(conn, account_id, row["role"] if row else None, "sign_in", "account", account_id,
                                from_addr, None, "failed", None)
                    failure = AuthError("bad_credentials", "wrong name, password or code")
                elif conn.execute(sa.update(t.accounts).where(t.accounts.c.account_id == account_id,
                                                              t.accounts.c.totp_last_step < step)
                                  .values(totp_last_step=step)).rowcount != 1:  # the code was used meanwhile
                    self._audit(conn, account_id, row["role"], "sign_in", "account", account_id, from_addr, None,
                                "failed", {"why": "code reused"})
                    failure = AuthError("bad_credentials", "wrong name, password or code")
                else:
                    conn.execute(sa.insert(t.sessions).values(token_hash=token_hash(token), account_id=account_id,
                                                              created_at=now, last_seen_at=now, from_addr=from_addr))
                    self._audit(conn, account_id, row["role"], "sign_in", "account", account_id, from_addr, None,
                                "ok", None)
        if failure is not None:
            raise failure
        return token

    def sign_out(self, token: str, from_addr: str | None) -> None:
        with self.engine.begin() as conn:
            now = self.clock()
            row = conn.execute(sa.select(t.sessions).where(t.sessions.c.token_hash == token_hash(token),
                                                           t.sessions.c.ended_at.is_(None))).mappings().first()
            if row is None:
                return
            conn.execute(sa.update(t.sessions).where(t.sessions.c.token_hash == row["token_hash"]).values(ended_at=now))
            self._audit(conn, row["account_id"], None, "sign_out", "account", row["account_id"], from_addr, None, "ok",
                        None)

    # -- the account's own settings --------------------------------------------------------------------
    def locale(self, account_id: str) -> str | None:
        """The web app's language the account chose (``zh-CN`` | ``en``), None when it chose none."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(t.accounts.c.locale)  # type: ignore[no-any-return]
                                .where(t.accounts.c.account_id == account_id)).scalar()

    def set_locale(self, account_id: str, locale: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.update(t.accounts).where(t.accounts.c.account_id == account_id).values(locale=locale))

    def authenticate_device(self, device_id: str, password: str) -> Principal | None:
        """A device signing in with its broker account (``stayaway mqtt credentials``): the victim's
        companion app is her phone. Its role comes from the orders in force (or ended, in their grace) that
        enrol it: ``victim`` (with those orders) or ``respondent``, which may read nothing."""
        with self.engine.connect() as conn:
            stored = conn.execute(sa.select(t.mqtt_credentials.c.password_hash).where(
                t.mqtt_credentials.c.username == device_id, t.mqtt_credentials.c.kind == "device")).scalar()
            ok = stored is not None and mosquitto_verify(password, stored)
            roles = conn.execute(
                sa.select(t.order_parties.c.order_id, t.order_parties.c.role)
                .join(t.orders, t.orders.c.order_id == t.order_parties.c.order_id)
                .where(t.order_parties.c.device_id == device_id, sa.or_(  # her order in force, or in its grace
                    t.orders.c.status == "active", t.orders.c.grace_until > self.clock()))).all() if ok else []
        if not ok:
            self.audit(None, "sign_in", "device", device_id, None, None, "failed", {"via": "device"})
            return None
        victim_of = frozenset(o for o, role in roles if role == "victim")
        if victim_of:
            return Principal(device_id, Role.VICTIM, via="device", order_ids=victim_of)
        return Principal(device_id, Role.RESPONDENT, via="device")

    def authenticate(self, bearer: str | None) -> Principal | None:
        """The principal behind a session or API token; None when there is none, or it has expired."""
        if not bearer:
            return None
        h = token_hash(bearer)
        if bearer.startswith(TOKEN_PREFIX):
            with self.engine.connect() as conn:
                r = conn.execute(sa.select(t.api_tokens).where(t.api_tokens.c.token_hash == h,
                                                              t.api_tokens.c.revoked_at.is_(None))).mappings().first()
                kind = self._agency_kind(conn, r["agency_id"]) if r else None
            return None if r is None else Principal(r["name"], Role(r["role"]), r["agency_id"], kind, "token")
        with self.engine.connect() as conn:  # a read; the write lock only when something changes
            now = self.clock()
            r = conn.execute(
                sa.select(t.sessions, t.accounts.c.role, t.accounts.c.agency_id, t.accounts.c.disabled_at)
                .join(t.accounts, t.accounts.c.account_id == t.sessions.c.account_id)
                .where(t.sessions.c.token_hash == h, t.sessions.c.ended_at.is_(None))).mappings().first()
            kind = self._agency_kind(conn, r["agency_id"]) if r is not None else None
        if r is None:
            return None
        expired = r["disabled_at"] is not None or now - r["last_seen_at"] >= IDLE or now - r["created_at"] >= ABSOLUTE
        if expired or now - r["last_seen_at"] >= TOUCH_EVERY:
            with self.engine.begin() as conn:
                values = {"ended_at": now} if expired else {"last_seen_at": now}
                conn.execute(sa.update(t.sessions).where(t.sessions.c.token_hash == h).values(**values))
        if expired:
            return None
        return Principal(r["account_id"], Role(r["role"]), r["agency_id"], kind, "session")

    # -- the audit -------------------------------------------------------------------------------------
    def audit(self, principal: Principal | None, action: str, object_type: str | None, object_id: str | None,
              from_addr: str | None, reason: str | None = None, outcome: str = "ok",
              details: dict[str, Any] | None = None) -> None:
        with self.engine.begin() as conn:
            self._audit(conn, principal.subject if principal else "anonymous", principal.role.value if principal else None,
                        action, object_type, object_id, from_addr, reason, outcome, details)

    def audit_as(self, actor: str, role: str | None, action: str, object_type: str | None, object_id: str | None,
                 details: dict[str, Any] | None = None) -> None:
        """An audit record for an actor who is not a signed-in principal (the command line)."""
        with self.engine.begin() as conn:
            self._audit(conn, actor, role, action, object_type, object_id, None, None, "ok", details)

    def _audit(self, conn: Connection, actor: str, role: str | None, action: str, object_type: str | None,
               object_id: str | None, from_addr: str | None, reason: str | None, outcome: str,
               details: dict[str, Any] | None) -> None:
        conn.execute(sa.insert(t.access_audit).values(
            at=self.clock(), actor=actor[:64], role=role, action=action, object_type=object_type,
            object_id=(object_id or "")[:80] or None, from_addr=from_addr, reason=reason, outcome=outcome,
            details=details))

    # -- helpers ----------------------------------------------------------------------------------------
    def _locked(self, conn: Connection, account_id: str, now: datetime) -> bool:
        c = t.access_audit.c
        failures = conn.execute(sa.select(sa.func.count()).where(
            c.actor == account_id[:64], c.action == "sign_in", c.outcome == "failed",
            c.at > now - LOCKOUT_WINDOW)).scalar_one()
        return failures >= LOCKOUT_FAILURES

    def _verify(self, stored: str, password: str) -> bool:
        try:
            return self.hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    @staticmethod
    def _agency_kind(conn: Connection, agency_id: str | None) -> str | None:
        if agency_id is None:
            return None
        return conn.execute(sa.select(t.agencies.c.kind).where(t.agencies.c.agency_id == agency_id)).scalar()


def _role(value: str, allowed: frozenset[Role]) -> Role:
    try:
        role = Role(value)
    except ValueError:
        role = None
    if role is None or role not in allowed:
        raise AuthError("bad_input", f"role must be one of {', '.join(sorted(r.value for r in allowed))}")
    return role


def _totp_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step the code belongs to (now, or one step either side), or None."""
    if not code or not code.isdigit() or len(code) != 6:
        return None
    totp = pyotp.TOTP(secret)
    base = totp.timecode(now)
    for step in (base, base - 1, base + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None
