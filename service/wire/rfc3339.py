"""Strict RFC 3339 timestamps (section 5.6), always returned as aware UTC datetimes."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})"
)


def parse_ts(text: str) -> datetime | None:
    """Parse ``text`` or return None when it is not an RFC 3339 date-time with an offset."""
    m = _RFC3339.fullmatch(text)
    if m is None:
        return None
    try:
        if m.group(8) == "Z" and text[10] == "T":  # the common form: fromisoformat takes it as is (~0.8 us)
            dt = datetime.fromisoformat(text)
        else:
            frac = (m.group(7) or "")[:6].ljust(6, "0")
            offset = "+00:00" if m.group(8) in ("Z", "z") else m.group(8)
            dt = datetime.fromisoformat(
                f"{m.group(1)}-{m.group(2)}-{m.group(3)}T{m.group(4)}:{m.group(5)}:{m.group(6)}.{frac}{offset}")
    except ValueError:
        return None
    return dt if dt.tzinfo is UTC else dt.astimezone(UTC)


def format_ts(dt: datetime) -> str:
    """``2026-11-21T08:15:30.250Z``: UTC, millisecond precision."""
    utc = dt.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
