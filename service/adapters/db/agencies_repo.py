"""Agencies: import (upsert) and load, their kinds and webhooks, a court's legal profile."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from alerts.routing import Agency
from service.adapters.db import schema as t
from service.adapters.db.upsert import upsert
from service.domain import profiles
from service.domain.profiles import LegalProfile


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
