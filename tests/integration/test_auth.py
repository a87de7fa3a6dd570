"""Sign-in, sessions, tokens and the access audit on a real database, with a clock the test moves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from service.adapters.db import schema as t
from service.auth import Auth, AuthError
from service.domain.access import Role
from service.importing import import_agencies
from tests.support import builders

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@pytest.fixture
def auth(engine):  # type: ignore[no-untyped-def]
    import_agencies(engine, builders.AGENCIES, lambda: T0)
    clock = Clock()
    a = Auth(engine, clock, PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1))  # fast, still Argon2id
    a.clock_ = clock  # type: ignore[attr-defined]
    return a


def code(secret: str, at: datetime) -> str:
    return pyotp.TOTP(secret).at(at)


def audit_rows(engine) -> list[tuple]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        c = t.access_audit.c
        return [tuple(r) for r in conn.execute(sa.select(c.actor, c.action, c.outcome).order_by(c.id))]


def test_a_password_and_a_fresh_totp_code_open_a_256_bit_session(auth, engine) -> None:  # type: ignore[no-untyped-def]
    new = auth.create_account("zhao", PASSWORD, "police", "police-west")
    assert new.provisioning_uri.startswith("otpauth://totp/stayaway:zhao?secret=")
    token = auth.sign_in("zhao", PASSWORD, code(new.totp_secret, T0), "127.0.0.1")
    assert len(token) >= 43  # 32 random bytes, URL-safe base64
    p = auth.authenticate(token)
    assert (p.subject, p.role, p.agency_id, p.agency_kind, p.via) == ("zhao", Role.POLICE, "police-west", "police",
                                                                     "session")
    with engine.connect() as conn:
        stored = conn.execute(sa.select(t.accounts.c.password_hash)).scalar_one()
        sessions = conn.execute(sa.select(t.sessions.c.token_hash)).scalars().all()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert token not in sessions and len(sessions[0]) == 64  # only its SHA-256 is kept
    assert audit_rows(engine)[-1] == ("zhao", "sign_in", "ok")


def test_a_wrong_password_an_old_code_or_a_replayed_code_fails_and_is_audited(auth, engine) -> None:  # type: ignore[no-untyped-def]
    secret = auth.create_account("li", PASSWORD, "court", "court-xinjin").totp_secret
    for password, at in ((PASSWORD + "x", T0), (PASSWORD, T0 - timedelta(minutes=5))):
        with pytest.raises(AuthError) as err:
            auth.sign_in("li", password, code(secret, at), None)
        assert err.value.code == "bad_credentials"
    auth.sign_in("li", PASSWORD, code(secret, T0), None)
    with pytest.raises(AuthError):  # the same code once more: a replay
        auth.sign_in("li", PASSWORD, code(secret, T0), None)
    with pytest.raises(AuthError):
        auth.sign_in("nobody", PASSWORD, "123456", None)
    assert [r for r in audit_rows(engine) if r[1] == "sign_in"] == [
        ("li", "sign_in", "failed"), ("li", "sign_in", "failed"), ("li", "sign_in", "ok"), ("li", "sign_in", "failed"),
        ("nobody", "sign_in", "failed")]


def test_five_failures_in_fifteen_minutes_lock_the_name_until_they_age_out(auth, engine) -> None:  # type: ignore[no-untyped-def]
    secret = auth.create_account("sun", PASSWORD, "supervisor", "police-west").totp_secret
    for _ in range(5):
        auth.clock_.advance(minutes=2)
        with pytest.raises(AuthError):
            auth.sign_in("sun", "wrong password!", "000000", None)
    auth.clock_.advance(seconds=30)
    with pytest.raises(AuthError) as locked:
        auth.sign_in("sun", PASSWORD, code(secret, auth.clock_.now), None)
    assert locked.value.code == "locked"
    auth.clock_.advance(minutes=7)  # the first failure is now more than 15 minutes old: four remain
    assert auth.sign_in("sun", PASSWORD, code(secret, auth.clock_.now), None)
    assert ("sun", "sign_in", "denied") in audit_rows(engine)


def test_a_session_ends_after_30_idle_minutes_and_12_hours_in_all(auth) -> None:  # type: ignore[no-untyped-def]
    secret = auth.create_account("zhou", PASSWORD, "court", "court-xinjin").totp_secret
    idle = auth.sign_in("zhou", PASSWORD, code(secret, T0), None)
    auth.clock_.advance(minutes=29)
    assert auth.authenticate(idle) is not None
    auth.clock_.advance(minutes=29)  # 29 minutes after the last request: still alive
    assert auth.authenticate(idle) is not None
    auth.clock_.advance(minutes=31)
    assert auth.authenticate(idle) is None
    busy = auth.sign_in("zhou", PASSWORD, code(secret, auth.clock_.now), None)
    for _ in range(12 * 3):  # a request every 20 minutes for 12 hours
        assert auth.authenticate(busy) is not None
        auth.clock_.advance(minutes=20)
    assert auth.authenticate(busy) is None
    assert auth.authenticate("made-up-token") is None


def test_sign_out_ends_the_session(auth, engine) -> None:  # type: ignore[no-untyped-def]
    secret = auth.create_account("qian", PASSWORD, "police", "police-east").totp_secret
    token = auth.sign_in("qian", PASSWORD, code(secret, T0), "127.0.0.1")
    auth.sign_out(token, "127.0.0.1")
    assert auth.authenticate(token) is None
    assert audit_rows(engine)[-1] == ("qian", "sign_out", "ok")


def test_api_tokens_carry_a_role_and_an_agency(auth, engine) -> None:  # type: ignore[no-untyped-def]
    token = auth.create_token("dispatch-system", "police", "police-west")
    assert token.startswith("st_") and len(token) >= 46
    p = auth.authenticate(token)
    assert (p.subject, p.role, p.agency_id, p.via) == ("dispatch-system", Role.POLICE, "police-west", "token")
    assert auth.authenticate(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert ("cli", "permission_change", "ok") in audit_rows(engine)


@pytest.mark.parametrize("args, message", [
    (("x", "short", "police", "police-west"), "12 characters"),
    (("x", PASSWORD, "police", None), "agency"),
    (("x", PASSWORD, "victim", None), "role must be"),
    (("x", PASSWORD, "respondent", None), "role must be"),
])
def test_accounts_are_refused_without_a_long_password_an_agency_or_an_officer_role(auth, args, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(AuthError, match=message):
        auth.create_account(*args)
