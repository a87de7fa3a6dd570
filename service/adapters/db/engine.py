"""Engines for SQLite (WAL) and PostgreSQL, and migrations to the latest schema."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Engine

from service.errors import ConfigError, StorageError

_HERE = Path(__file__).parent


def normalise_url(url: str) -> str:
    """``postgres://`` and ``postgresql://`` go through psycopg 3, the driver we ship."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def make_engine(url: str, sqlite_synchronous: str = "FULL", writer: bool = True) -> Engine:
    """An engine; on SQLite, writers take the write lock at BEGIN (``BEGIN IMMEDIATE``)."""
    url = normalise_url(url)
    try:
        if url.startswith("sqlite"):
            # hide_parameters: a database error's text must never carry a report's coordinates into a log
            engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                                      hide_parameters=True)
            _sqlite_pragmas(engine, sqlite_synchronous, writer)
        else:
            engine = sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5, hide_parameters=True)
    except (sa.exc.ArgumentError, ImportError, ValueError) as exc:  # ValueError: a port that is not a number
        raise ConfigError(f"unusable database URL ({exc.__class__.__name__})") from None  # the URL may hold a password
    return engine


def _sqlite_pragmas(engine: Engine, synchronous: str, writer: bool) -> None:
    if synchronous.upper() not in ("FULL", "NORMAL"):
        raise ConfigError("sqlite synchronous must be FULL or NORMAL")

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous.upper()}")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn):  # type: ignore[no-untyped-def]
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")


def migrate(engine: Engine) -> None:
    """Create or upgrade the schema to the latest Alembic revision."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE / "migrations"))
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except sa.exc.OperationalError as exc:
        raise StorageError(f"cannot reach the database to migrate it ({exc.orig.__class__.__name__})") from exc
