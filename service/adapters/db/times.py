"""Stored times read back as aware UTC datetimes (SQLite returns some as naive values)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def utc(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:  # SQLite's MIN() returns the stored text's value
        return value.replace(tzinfo=UTC)
    return value
