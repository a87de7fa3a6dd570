"""Weekly windows in which a zone is in force (a school zone on weekdays 07:00-18:00).

A zone without a schedule is always in force. Times are wall-clock times in the
order's time zone; the caller passes a ``tzinfo`` (``zoneinfo.ZoneInfo``), so
daylight-saving changes are the time zone database's business, not ours. A
window whose end is not after its start runs past midnight into the next day
(``22:00``-``06:00`` on Friday covers Friday night until Saturday 06:00).

Pure: nothing here reads the clock or a file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60


@dataclass(frozen=True, slots=True)
class Window:
    days: frozenset[int]  # 0 = Monday ... 6 = Sunday: the days the window starts on
    start_min: int  # minutes after local midnight
    end_min: int  # exclusive; <= start_min means the window ends the next day

    def holds(self, weekday: int, minute: int) -> bool:
        if self.start_min < self.end_min:
            return weekday in self.days and self.start_min <= minute < self.end_min
        yesterday = (weekday - 1) % 7
        return (weekday in self.days and minute >= self.start_min) or (yesterday in self.days and minute < self.end_min)


def in_force(windows: Sequence[Window] | None, ts: datetime, tz: tzinfo) -> bool:
    """Whether a zone with these windows is in force at the aware instant ``ts``."""
    if not windows:
        return True
    local = ts.astimezone(tz)
    minute = local.hour * 60 + local.minute
    return any(w.holds(local.weekday(), minute) for w in windows)


def parse_hhmm(text: str) -> int:
    """``"07:30"`` -> 450; ``"24:00"`` is the end of the day. Raises ValueError otherwise."""
    hh, sep, mm = text.partition(":")
    if sep != ":" or len(hh) != 2 or len(mm) != 2 or not (hh.isdigit() and mm.isdigit()):
        raise ValueError("a time must be HH:MM")
    minutes = int(hh) * 60 + int(mm)
    if int(mm) > 59 or minutes > MINUTES_PER_DAY:
        raise ValueError("a time must be 00:00 to 24:00")
    return minutes
