"""Readers for real GPS track files: GPX, `;`/`,`-separated CSV, and GeoLife ``.plt``.

Every reader returns a :class:`Track`: its ``points`` in **file order** (never sorted: out-of-order
and descending files are test material) and its ``skipped`` rows, each with where it was and why.
Nothing is dropped silently: a row that can't be used is in ``skipped``; a file that can't be read
at all (no header, missing required column, broken XML) raises ``ValueError`` (or gpxpy's error).

Conventions, per format:

- Times are aware UTC datetimes. A time without a zone is taken as UTC (``naive_tz``): GPX times are
  UTC by the GPX schema, GeoLife times are GMT, and zone-less POSMO times are UTC as trackintel reads
  them (``tz="UTC"``). Sub-microsecond digits are truncated.
- ``acc_m``: None when unknown. A non-positive accuracy is "unknown" (POSMO writes ``0.0``).
- ``speed_mps`` None when unknown or negative; ``heading_deg`` None when unknown or outside 0-360.
- ``src``: ``gps`` for GPX and GeoLife (GPS loggers); for CSV the ``src``/``source``/``provider`` column
  when there is one, else ``cell`` when the accuracy is ``cell_acc_m`` (500 m) or worse, else None.
- ``alt_m``: metres; GeoLife feet are converted and its ``-777`` ("invalid") becomes None.

Broken clocks are kept, not hidden: :meth:`Track.clock_problem` says when a track's times can't be
used as they are (before 2000, or all within one second); :func:`simulators.replay.plan` refuses such
a track unless told to space its points at a fixed interval or to send the raw times.
"""

from __future__ import annotations

import csv
import math
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path

import gpxpy

CELL_ACC_M = 500.0
EARLIEST_PLAUSIBLE = datetime(2000, 1, 1, tzinfo=UTC)
INT32_MIN_TIME = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=-(2**31))  # 1901-12-13T20:45:52Z
GEOLIFE_INVALID_ALT = -777.0
FEET = 0.3048


@dataclass(frozen=True, slots=True)
class TrackPoint:
    ts: datetime  # aware, UTC
    lat: float
    lon: float
    acc_m: float | None = None
    speed_mps: float | None = None
    heading_deg: float | None = None
    src: str | None = None
    alt_m: float | None = None


@dataclass(frozen=True, slots=True)
class Skipped:
    """A row that could not become a point: ``where`` it was (e.g. ``line 12``), ``reason``, ``raw`` text."""

    where: str
    reason: str
    raw: str = ""


@dataclass
class Track:
    source: str
    format: str  # "gpx", "csv" or "plt"
    points: list[TrackPoint] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.points)

    def backward_steps(self) -> list[int]:
        """Indices ``i`` where ``points[i]`` is earlier than ``points[i - 1]``."""
        p = self.points
        return [i for i in range(1, len(p)) if p[i].ts < p[i - 1].ts]

    def time_range(self) -> tuple[datetime, datetime] | None:
        if not self.points:
            return None
        times = [p.ts for p in self.points]
        return min(times), max(times)

    def clock_problem(self) -> str | None:
        """Why this track's times can't be trusted as they are, or None."""
        rng = self.time_range()
        if rng is None:
            return None
        lo, hi = rng
        early = sum(1 for p in self.points if p.ts < EARLIEST_PLAUSIBLE)
        if early:
            note = " (INT32_MIN seconds since 1970: a broken device clock)" if abs(lo - INT32_MIN_TIME) < timedelta(
                seconds=1) else ""
            return f"{early} of {len(self.points)} times are before 2000, earliest {lo.isoformat()}{note}"
        if len(self.points) >= 3 and hi - lo < timedelta(seconds=1):
            return f"all {len(self.points)} times fall within one second of {lo.isoformat()}"
        return None

    def slice(self, start: int, stop: int | None = None) -> Track:
        """A track of ``points[start:stop]`` (no skipped rows)."""
        return Track(f"{self.source}[{start}:{stop if stop is not None else ''}]", self.format,
                     self.points[start:stop])


def read_track(path: str | Path, **options: object) -> Track:
    """Read ``path`` by its extension: ``.gpx``, ``.csv`` or ``.plt``; ``options`` go to that reader."""
    p = Path(path)
    readers = {".gpx": read_gpx, ".csv": read_csv, ".plt": read_plt}
    reader = readers.get(p.suffix.lower())
    if reader is None:
        raise ValueError(f"{p.name}: unknown track format {p.suffix!r} (expected .gpx, .csv or .plt)")
    return reader(p, **options)  # type: ignore[operator]


# --- time and number helpers --------------------------------------------------------------------------------------

def parse_time(text: str, naive_tz: tzinfo = UTC) -> datetime:
    """ISO 8601 / RFC 3339 (``Z`` or offset, ``T`` or space, any fraction) or epoch seconds/milliseconds."""
    s = text.strip()
    if not s:
        raise ValueError("empty time")
    if s.replace(".", "", 1).isdigit():
        value = float(s)
        return datetime.fromtimestamp(value / 1000 if value > 1e11 else value, UTC)
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=naive_tz)
    return dt.astimezone(UTC)


def _coord(text: str | float, name: str, limit: float) -> float:
    value = float(text)
    if not math.isfinite(value) or abs(value) > limit:
        raise ValueError(f"{name} {text!r} is outside ±{limit:g}")
    return value


def _opt(value: str | float | None, lo: float = 0.0, hi: float = math.inf, open_lo: bool = False) -> float | None:
    """A float within [lo, hi] (or (lo, hi]), else None: the 'unknown' markers (0, -1, blank) become None."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    v = float(value)
    if not math.isfinite(v) or v < lo or v > hi or (open_lo and v == lo):
        return None
    return v


# --- GPX ----------------------------------------------------------------------------------------------------------

def read_gpx(path: str | Path, naive_tz: tzinfo = UTC) -> Track:
    """Every track point of every track and segment (waypoints and routes are not a track).

    A point without a usable ``<time>`` is skipped, with the raw time text in the reason when it had one.
    Speed and heading come from GPX 1.0 ``<speed>``/``<course>`` or a 1.1 extension ending in speed/course.
    """
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    gpx = gpxpy.parse(text)
    raw_times = _raw_trkpt_times(text)
    track = Track(str(p), "gpx")
    k = 0
    for ti, trk in enumerate(gpx.tracks):
        for si, seg in enumerate(trk.segments):
            for pi, pt in enumerate(seg.points):
                where = f"track {ti} segment {si} point {pi}"
                raw = raw_times[k] if len(raw_times) == gpx.get_track_points_no() else None
                k += 1
                if pt.time is None:
                    reason = "no <time>" if not raw else f"unparseable <time> {raw!r}"
                    track.skipped.append(Skipped(where, reason, f"lat={pt.latitude} lon={pt.longitude}"))
                    continue
                ts = pt.time if pt.time.tzinfo is not None else pt.time.replace(tzinfo=naive_tz)
                speed, course = pt.speed, pt.course
                for ext in pt.extensions:
                    for el in ext.iter():
                        tag = el.tag.rsplit("}", 1)[-1].lower()
                        if tag == "speed" and speed is None and el.text:
                            speed = float(el.text)
                        elif tag in ("course", "heading") and course is None and el.text:
                            course = float(el.text)
                track.points.append(TrackPoint(
                    ts=ts.astimezone(UTC), lat=pt.latitude, lon=pt.longitude, acc_m=None,
                    speed_mps=_opt(speed), heading_deg=_opt(course, 0.0, 360.0), src="gps",
                    alt_m=pt.elevation,
                ))
    return track


def _raw_trkpt_times(text: str) -> list[str | None]:
    """The raw ``<time>`` text of each ``<trkpt>`` in document order (None when absent)."""
    out: list[str | None] = []
    for el in ET.fromstring(text.encode("utf-8")).iter():
        if el.tag.rsplit("}", 1)[-1] == "trkpt":
            t = next((c.text for c in el if c.tag.rsplit("}", 1)[-1] == "time"), None)
            out.append(t.strip() if t and t.strip() else None)
    return out


# --- CSV ----------------------------------------------------------------------------------------------------------

COLUMNS: dict[str, tuple[str, ...]] = {
    "ts": ("tracked_at", "time", "timestamp", "ts", "datetime", "date_time"),
    "lat": ("latitude", "lat"),
    "lon": ("longitude", "lon", "lng", "long"),
    "acc": ("accuracy", "acc", "horizontal_accuracy", "hacc"),
    "speed": ("speed", "spd"),
    "heading": ("heading", "hdg", "bearing", "course"),
    "alt": ("elevation", "altitude", "alt", "ele"),
    "src": ("src", "source", "provider"),
}
REQUIRED = ("ts", "lat", "lon")


def read_csv(path: str | Path, naive_tz: tzinfo = UTC, cell_acc_m: float | None = CELL_ACC_M) -> Track:
    """A CSV track whose header names its columns (see ``COLUMNS``); ``;`` or ``,`` separated.

    Works for trackintel's POSMO, Google-history and GeoLife exports (``tracked_at``, ``latitude``,
    ``longitude``, ``accuracy``, ``elevation``). Extra columns (``user_id``) are ignored.
    """
    p = Path(path)
    with p.open(encoding="utf-8", newline="") as f:
        return parse_csv(f.read().splitlines(), str(p), naive_tz, cell_acc_m)


def parse_csv(lines: Sequence[str], source: str, naive_tz: tzinfo = UTC,
              cell_acc_m: float | None = CELL_ACC_M) -> Track:
    if not lines or not lines[0].strip():
        raise ValueError(f"{source}: no header line")
    header_line = lines[0].lstrip("\ufeff")
    delimiter = ";" if header_line.count(";") >= header_line.count(",") and ";" in header_line else ","
    header = [h.strip().lower() for h in next(csv.reader([header_line], delimiter=delimiter))]
    col: dict[str, int] = {}
    for key, names in COLUMNS.items():
        for name in names:
            if name in header:
                col[key] = header.index(name)
                break
    missing = [k for k in REQUIRED if k not in col]
    if missing:
        raise ValueError(f"{source}: header {header} has no column for {', '.join(missing)}")
    track = Track(source, "csv")
    for lineno, row in enumerate(csv.reader(lines[1:], delimiter=delimiter), start=2):
        raw = delimiter.join(row)
        where = f"line {lineno}"
        if not row or all(not c.strip() for c in row):
            track.skipped.append(Skipped(where, "blank line", raw))
            continue
        if len(row) != len(header):
            track.skipped.append(Skipped(where, f"expected {len(header)} fields, got {len(row)}", raw))
            continue
        try:
            track.points.append(_csv_point(row, col, naive_tz, cell_acc_m))
        except ValueError as exc:
            track.skipped.append(Skipped(where, str(exc), raw))
    return track


def _csv_point(row: list[str], col: dict[str, int], naive_tz: tzinfo, cell_acc_m: float | None) -> TrackPoint:
    def get(key: str) -> str | None:
        return row[col[key]] if key in col else None

    try:
        ts = parse_time(row[col["ts"]], naive_tz)
    except ValueError as exc:
        raise ValueError(f"bad time {row[col['ts']]!r}: {exc}") from None
    lat = _coord(row[col["lat"]], "latitude", 90.0)
    lon = _coord(row[col["lon"]], "longitude", 180.0)
    acc = _opt(get("acc"), open_lo=True)
    src_text = (get("src") or "").strip().lower()
    src: str | None = src_text or None
    if "src" not in col and acc is not None and cell_acc_m is not None and acc >= cell_acc_m:
        src = "cell"
    alt_text = get("alt")
    return TrackPoint(ts=ts, lat=lat, lon=lon, acc_m=acc, speed_mps=_opt(get("speed")),
                      heading_deg=_opt(get("heading"), 0.0, 360.0), src=src,
                      alt_m=float(alt_text) if alt_text and alt_text.strip() else None)


# --- GeoLife .plt -------------------------------------------------------------------------------------------------

PLT_HEADER_LINES = 6


def read_plt(path: str | Path) -> Track:
    """A GeoLife trajectory: 6 header lines, then ``lat,lon,0,alt_feet,days_since_1899-12-30,date,time`` (GMT)."""
    p = Path(path)
    return parse_plt(p.read_text(encoding="utf-8", errors="replace").splitlines(), str(p))


def parse_plt(lines: Iterable[str], source: str) -> Track:
    lines = list(lines)
    if len(lines) < PLT_HEADER_LINES:
        raise ValueError(f"{source}: {len(lines)} lines, a .plt file has {PLT_HEADER_LINES} header lines")
    track = Track(source, "plt")
    for lineno, line in enumerate(lines[PLT_HEADER_LINES:], start=PLT_HEADER_LINES + 1):
        where = f"line {lineno}"
        if not line.strip():
            track.skipped.append(Skipped(where, "blank line", line))
            continue
        parts = [s.strip() for s in line.split(",")]
        if len(parts) != 7:
            track.skipped.append(Skipped(where, f"expected 7 fields, got {len(parts)}", line))
            continue
        try:
            lat = _coord(parts[0], "latitude", 90.0)
            lon = _coord(parts[1], "longitude", 180.0)
            ts = datetime.fromisoformat(f"{parts[5]}T{parts[6]}").replace(tzinfo=UTC)
            alt_ft = float(parts[3])
        except ValueError as exc:
            track.skipped.append(Skipped(where, str(exc), line))
            continue
        alt = None if alt_ft == GEOLIFE_INVALID_ALT else alt_ft * FEET
        track.points.append(TrackPoint(ts=ts, lat=lat, lon=lon, src="gps", alt_m=alt))
    return track
