"""Strict RFC 3339 timestamps (section 5.6), always returned as aware UTC datetimes.

``parse_ts`` is total: any value gives an aware UTC datetime or None, never an exception, in time
bounded by ``MAX_TEXT`` characters. It accepts only times within the years 1900 to 2199 (UTC, from
``EARLIEST`` up to ``END`` excluded), so that a parsed time plus or minus any tolerance, term or year
the service adds stays far inside ``datetime``'s calendar (years 1 to 9999). Calendar-end times such as
``0001-01-01T00:00:00+00:01`` or ``9999-12-31T23:59:59-00:01`` (whose UTC value lies outside that
calendar) are simply not times. A clock reset to 1901 is still a time (the decoder flags it).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

MIN_YEAR, MAX_YEAR = 1900, 2199
EARLIEST = datetime(MIN_YEAR, 1, 1, tzinfo=UTC)
END = datetime(MAX_YEAR + 1, 1, 1, tzinfo=UTC)  # excluded
MAX_TEXT = 40  # the longest form is 35 characters (nine fraction digits and an offset)
WINDOW = f"the years {MIN_YEAR}-{MAX_YEAR}"

_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
_MIN_YEAR_TEXT, _MAX_YEAR_TEXT = f"{MIN_YEAR - 1:04d}", f"{MAX_YEAR + 1:04d}"  # a local year: UTC decides


class _Outside:
    """A well-formed time outside the window (``_parse``'s third answer)."""


OUTSIDE = _Outside()


def parse_ts(text: object) -> datetime | None:
    """``text`` as an aware UTC datetime; None when it is not a string holding an RFC 3339 date-time with
    an offset, or when that time lies outside the years 1900-2199 (UTC)."""
    value = _parse(text)
    return value if isinstance(value, datetime) else None


def outside_window(text: object) -> bool:
    """True when ``text`` is a well-formed RFC 3339 date-time whose time lies outside the years 1900-2199."""
    return _parse(text) is OUTSIDE


def _parse(text: object) -> datetime | _Outside | None:
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        return None
    m = _RFC3339.fullmatch(text)
    if m is None:
        return None
    if not _MIN_YEAR_TEXT <= m.group(1) <= _MAX_YEAR_TEXT:  # before any arithmetic, so nothing can overflow
        return OUTSIDE if _valid_fields(m) else None
    try:
        if m.group(8) == "Z" and text[10] == "T":  # the common form: fromisoformat takes it as is (~0.8 us)
            dt = datetime.fromisoformat(text)
        else:
            frac = (m.group(7) or "")[:6].ljust(6, "0")
            offset = "+00:00" if m.group(8) in ("Z", "z") else m.group(8)
            dt = datetime.fromisoformat(
                f"{m.group(1)}-{m.group(2)}-{m.group(3)}T{m.group(4)}:{m.group(5)}:{m.group(6)}.{frac}{offset}")
        dt = dt if dt.tzinfo is UTC else dt.astimezone(UTC)
    except (ValueError, OverflowError):  # a day, hour or offset that does not exist; overflow can't happen here
        return None
    if not EARLIEST <= dt < END:  # the window is in UTC: 1900-01-01T00:30:00+01:00 is in 1899
        return OUTSIDE
    return dt


def _valid_fields(m: re.Match[str]) -> bool:
    """The fields of a time outside the window name a real date and time (checked in a year of the window
    with the same leap-year rule: 2000 for a leap year, else 2001) and a real offset."""
    year = int(m.group(1))
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)  # proleptic Gregorian: year 0 is a leap year
    offset = m.group(8)
    if offset not in ("Z", "z") and (int(offset[1:3]) > 23 or int(offset[4:6]) > 59):
        return False
    try:
        datetime(2000 if leap else 2001, int(m.group(2)), int(m.group(3)), int(m.group(4)), int(m.group(5)),
                 int(m.group(6)))
    except ValueError:
        return False
    return True


def format_ts(dt: datetime) -> str:
    """``2026-11-21T08:15:30.250Z``: UTC, millisecond precision."""
    utc = dt.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
