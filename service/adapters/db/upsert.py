"""Dialect-aware INSERT ... ON CONFLICT for SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection


def dialect_insert(conn: Connection, table: sa.Table) -> Any:
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def upsert(conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> None:
    ins = dialect_insert(conn, table)
    updates = {c: ins.excluded[c] for c in rows[0] if c not in keys}
    conn.execute(ins.on_conflict_do_update(index_elements=list(keys), set_=updates), list(rows))


def insert_new(conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> set[tuple]:
    """Insert rows, skipping those whose ``keys`` already exist; returns the keys actually inserted."""
    if not rows:
        return set()
    ins = dialect_insert(conn, table).on_conflict_do_nothing(index_elements=list(keys))
    returned = conn.execute(ins.returning(*[table.c[k] for k in keys]), list(rows)).all()
    return {tuple(r) for r in returned}
