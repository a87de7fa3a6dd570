"""Transactions and connections whose driver failures come out as stayaway's own errors.

A database that cannot be reached, drops the connection or is locked past its timeout (the driver's
operational and interface errors, and any error SQLAlchemy reports as a disconnect) raises
:class:`service.errors.StorageUnavailable`, chained to the driver's error; nothing was committed and
the work may be retried. The service layer catches that, never a driver's class. The message names
only the driver's error class: its text may quote a statement's values (a report's coordinates).
Every other error passes through unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy.exc
from sqlalchemy.engine import Connection, Engine

from service.errors import StorageUnavailable

TRANSIENT = (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError)


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """``engine.begin()``: one transaction, committed when the block ends, rolled back if it raises."""
    with storage_errors(), engine.begin() as conn:
        yield conn


@contextmanager
def connection(engine: Engine) -> Iterator[Connection]:
    """``engine.connect()``: for reading."""
    with storage_errors(), engine.connect() as conn:
        yield conn


@contextmanager
def storage_errors() -> Iterator[None]:
    """Maps what the block raises, for work that opens its own connections (a state reload)."""
    try:
        yield
    except sqlalchemy.exc.DBAPIError as exc:
        if unavailable(exc):
            raise StorageUnavailable(f"database unavailable ({exc.__class__.__name__})") from exc
        raise


def unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database is out of reach (rather than that the statement is wrong)."""
    return isinstance(exc, TRANSIENT) or (isinstance(exc, sqlalchemy.exc.DBAPIError)
                                          and bool(exc.connection_invalidated))
