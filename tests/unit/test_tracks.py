"""Track readers against the real files in ../shared/data (facts checked by raw reading) and synthetic edge cases."""

from __future__ import annotations

import csv
import tarfile
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from simulators.tracks import (
    INT32_MIN_TIME,
    Track,
    read_csv,
    read_gpx,
    read_plt,
    read_track,
)

T = "trajectories"


def raw_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f, delimiter=";"))


def utc(s: str) -> datetime:
    dt = datetime.fromisoformat(s)
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


# --- CSV ----------------------------------------------------------------------------------------------------------

def test_posmo_keeps_file_order_with_its_five_backward_steps(shared_data: Path) -> None:
    path = shared_data / T / "phone_tracks" / "posmo_trajectory.csv"
    raw = raw_rows(path)
    track = read_track(path)
    assert len(track) == len(raw) == 1327 and track.skipped == []
    # file order, row by row (raw times have 9 fractional digits, truncated to microseconds)
    for p, r in zip(track.points, raw, strict=True):
        assert (p.lat, p.lon) == (float(r["latitude"]), float(r["longitude"]))
        assert p.ts == utc(r["tracked_at"][:26])
    raw_back = [i for i in range(1, len(raw)) if raw[i]["tracked_at"] < raw[i - 1]["tracked_at"]]
    assert track.backward_steps() == raw_back == [59, 153, 629, 697, 1298]
    assert all(track.points[i - 1].ts - track.points[i].ts < timedelta(seconds=1) for i in raw_back)
    assert track.time_range() == (datetime(2019, 1, 25, 20, 0, 16, 178999, UTC), datetime(2019, 1, 25, 20, 52, 13, tzinfo=UTC))
    assert all(p.ts.tzinfo is UTC for p in track.points)
    # 0.0 accuracy means unknown; the README's "0-48" is wrong: the file goes up to 96 m
    assert sum(p.acc_m is None for p in track.points) == sum(r["accuracy"] == "0.0" for r in raw) == 149
    assert max(p.acc_m or 0 for p in track.points) == 96.0
    assert not any(p.src for p in track.points)


def test_google_history_is_descending_and_coarse_fixes_are_cell(shared_data: Path) -> None:
    path = shared_data / T / "phone_tracks" / "google_trajectory.csv"
    raw = raw_rows(path)
    track = read_track(path)
    assert len(track) == len(raw) == 416 and track.skipped == []
    assert track.backward_steps() == list(range(1, 416))  # strictly descending, kept that way
    assert track.points[0].ts == datetime(2012, 12, 18, 21, 30, 35, tzinfo=UTC)
    assert track.points[-1].ts == datetime(2012, 12, 18, 11, 53, 30, tzinfo=UTC)
    raw_cell = [float(r["accuracy"]) >= 500 for r in raw]
    assert [p.src == "cell" for p in track.points] == raw_cell
    assert sum(raw_cell) == 199
    assert [p.acc_m for p in track.points if p.acc_m == 697.0] and all(
        p.src == "cell" for p in track.points if p.acc_m == 697.0)
    assert sum(p.acc_m == 697.0 for p in track.points) == 108
    assert max(p.acc_m or 0 for p in track.points) == 1001.0  # the README's "up to 697 m" undercounts
    assert all(p.src is None for p in track.points if (p.acc_m or 0) < 500)


def test_geolife_csv_is_in_order_with_one_four_hour_gap(shared_data: Path) -> None:
    track = read_track(shared_data / T / "phone_tracks" / "geolife_trajectory.csv")
    assert len(track) == 2293 and track.skipped == [] and track.backward_steps() == []
    gaps = [(b.ts - a.ts).total_seconds() for a, b in zip(track.points, track.points[1:], strict=False)]
    assert max(gaps) == 14267 and gaps.index(max(gaps)) == 595
    assert sum(g > 3600 for g in gaps) == 1
    assert {p.acc_m for p in track.points} == {1.0}
    assert track.time_range() == (datetime(2008, 10, 26, 5, 59, 34, tzinfo=UTC), datetime(2008, 10, 26, 13, 22, 30, tzinfo=UTC))


# --- GPX ----------------------------------------------------------------------------------------------------------

def raw_trkpts(path: Path) -> list[tuple[float, float, str | None]]:
    """(lat, lon, raw time text) of every trkpt, with ElementTree only."""
    out = []
    for el in ET.parse(path).getroot().iter():
        if el.tag.endswith("}trkpt"):
            t = next((c.text for c in el if c.tag.endswith("}time")), None)
            out.append((float(el.get("lat", "nan")), float(el.get("lon", "nan")), t))
    return out


@pytest.mark.parametrize("name,points,first,last", [
    ("around-visnjan-with-car.gpx", 104, "2020-12-18T06:15:50Z", "2020-12-18T06:24:24Z"),
    ("cerknicko-jezero.gpx", 296, "2010-08-05T14:23:59Z", "2010-08-05T16:23:49Z"),
])
def test_gpx_with_good_clocks(shared_data: Path, name: str, points: int, first: str, last: str) -> None:
    path = shared_data / T / "gpx" / name
    raw = raw_trkpts(path)
    track = read_track(path)
    assert len(track) == len(raw) == points and track.skipped == []
    assert [(p.lat, p.lon) for p in track.points] == [(la, lo) for la, lo, _ in raw]
    assert [p.ts for p in track.points] == [utc(t) for _, _, t in raw if t]
    assert (track.points[0].ts, track.points[-1].ts) == (utc(first), utc(last))
    assert track.clock_problem() is None and track.backward_steps() == []
    assert {p.src for p in track.points} == {"gps"}


def test_gpx_car_drive_is_2_7_km_in_8_5_minutes(shared_data: Path) -> None:
    from pyproj import Geod

    track = read_gpx(shared_data / T / "gpx" / "around-visnjan-with-car.gpx")
    lons, lats = [p.lon for p in track.points], [p.lat for p in track.points]
    length = Geod(ellps="WGS84").line_length(lons, lats)
    assert 2600 < length < 2800
    assert (track.points[-1].ts - track.points[0].ts) == timedelta(minutes=8, seconds=34)


def test_gpx_points_without_time_are_reported_not_dropped(shared_data: Path) -> None:
    path = shared_data / T / "gpx" / "korita-zbevnica.gpx"
    raw = raw_trkpts(path)
    track = read_track(path)
    assert len(raw) == 871
    assert len(track) == sum(t is not None for *_, t in raw) == 513
    assert len(track.skipped) == 358 and {s.reason for s in track.skipped} == {"no <time>"}
    assert {s.where.split(" segment")[0] for s in track.skipped} == {"track 1"}  # the whole "03-OCT-10 #2" track
    assert track.time_range() == (utc("2010-10-03T09:36:30Z"), utc("2010-10-03T13:19:31Z"))


def test_broken_clock_gpx_is_read_and_flagged(shared_data: Path) -> None:
    path = shared_data / T / "gpx" / "Mojstrovka.gpx"
    raw = raw_trkpts(path)
    assert len(raw) == 184
    assert {t for *_, t in raw} == {"1901-12-13T20:45:52.2073437Z", "1901-12-13T20:45:52.207Z"}
    track = read_track(path)
    assert len(track) == 184 and track.skipped == []
    assert INT32_MIN_TIME == datetime.fromtimestamp(-(2**31), UTC)
    assert all(timedelta(0) <= p.ts - INT32_MIN_TIME < timedelta(milliseconds=208) for p in track.points)
    problem = track.clock_problem()
    assert problem is not None and "before 2000" in problem and "INT32_MIN" in problem
    assert track.backward_steps() == [1]  # .2073437 then .207: the one point with a shorter time string


# --- GeoLife .plt -------------------------------------------------------------------------------------------------

GEOLIFE_EPOCH = datetime(1899, 12, 30, tzinfo=UTC)


def check_plt(path: Path, track: Track) -> None:
    lines = path.read_text().splitlines()[6:]
    assert len(track) == len(lines) and track.skipped == []
    for p, line in zip(track.points, lines, strict=True):
        f = line.split(",")
        assert (p.lat, p.lon) == (float(f[0]), float(f[1]))
        # the days field is another encoding of the same GMT instant: it agrees within 1 s
        assert abs((GEOLIFE_EPOCH + timedelta(days=float(f[4])) - p.ts).total_seconds()) < 1
        assert p.alt_m is None if f[3] == "-777" else p.alt_m == pytest.approx(float(f[3]) * 0.3048)
    # GeoLife names each file after its first point's time in GMT
    assert track.points[0].ts == datetime.strptime(path.stem, "%Y%m%d%H%M%S").replace(tzinfo=UTC)


@pytest.mark.parametrize("rel", [
    "raw/000/Trajectory/20081023025304.plt", "raw/001/Trajectory/20081024234405.plt",
    "raw/003/Trajectory/20081031031627.plt", "raw/004/Trajectory/20081027054834.plt",
    "raw/000/Trajectory/20081103101336.plt", "modes/010/Trajectory/20080330004134.plt",
    "modes/178/Trajectory/20100312172608.plt",
])
def test_geolife_plt_files(shared_data: Path, rel: str) -> None:
    path = shared_data / T / "geolife" / rel
    check_plt(path, read_track(path))


def test_all_raw_geolife_files(shared_data: Path) -> None:
    files = sorted((shared_data / T / "geolife" / "raw").glob("*/Trajectory/*.plt"))
    tracks = [read_plt(f) for f in files]
    assert len(files) == 38 and sum(len(t) for t in tracks) == 40890
    assert all(t.skipped == [] and t.backward_steps() == [] for t in tracks)
    lo = min(t.time_range()[0] for t in tracks)  # type: ignore[index]
    hi = max(t.time_range()[1] for t in tracks)  # type: ignore[index]
    assert lo.date().isoformat() == "2008-10-23" and hi.date().isoformat() == "2008-11-03"
    lats = [p.lat for t in tracks for p in t.points]
    assert 39.887 < min(lats) and max(lats) < 40.077


def test_geolife_modes_invalid_altitudes(shared_data: Path) -> None:
    files = sorted((shared_data / T / "geolife" / "modes").glob("*/Trajectory/*.plt"))
    tracks = [read_plt(f) for f in files]
    raw_777 = sum(line.split(",")[3] == "-777" for f in files for line in f.read_text().splitlines()[6:])
    assert len(files) == 9 and sum(len(t) for t in tracks) == 4217
    assert sum(p.alt_m is None for t in tracks for p in t.points) == raw_777 == 2414


def test_geolife_archive_keeps_repeated_timestamps(shared_data: Path, tmp_path: Path) -> None:
    name = "geolife_long_10_MB/010/Trajectory/20070905163053.plt"
    with tarfile.open(shared_data / T / "geolife" / "geolife_11users_plt.tar.gz") as tar:
        member = tar.getmember(name)
        data = tar.extractfile(member).read()  # type: ignore[union-attr]
    path = tmp_path / "20070905163053.plt"
    path.write_bytes(data)
    track = read_track(path)
    check_plt(path, track)
    repeats = sum(a.ts == b.ts for a, b in zip(track.points, track.points[1:], strict=False))
    assert len(track) == 3691 and repeats == 124


# --- synthetic edge cases -----------------------------------------------------------------------------------------

def test_csv_bad_rows_are_reported_with_their_line(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(
        "id,time,lat,lng,accuracy,speed,bearing\n"
        "1,2024-05-01T10:00:00Z,30.1,103.1,5,1.5,90\n"
        "1,,30.1,103.1,5,,\n"
        "1,2024-05-01T10:00:02Z,91.0,103.1,5,,\n"
        "1,2024-05-01T10:00:03Z,30.1\n"
        "\n"
        "1,not-a-time,30.1,103.1,5,,\n"
        "1,2024-05-01T12:00:01+02:00,30.2,103.2,-1,-1,400\n"
        "1,1714557600,30.3,103.3,800,,\n"
    )
    track = read_csv(path)
    assert [s.where for s in track.skipped] == ["line 3", "line 4", "line 5", "line 6", "line 7"]
    reasons = [s.reason for s in track.skipped]
    assert "empty time" in reasons[0] and "latitude" in reasons[1] and "got 3" in reasons[2]
    assert reasons[3] == "blank line" and "not-a-time" in reasons[4]
    a, b, c = track.points
    assert (a.acc_m, a.speed_mps, a.heading_deg) == (5.0, 1.5, 90.0)
    assert b.ts == datetime(2024, 5, 1, 10, 0, 1, tzinfo=UTC)  # offset converted to UTC
    assert (b.acc_m, b.speed_mps, b.heading_deg) == (None, None, None)  # -1 and 400 mean unknown
    assert c.ts == datetime(2024, 5, 1, 10, 0, tzinfo=UTC) and c.src == "cell"  # epoch seconds; 800 m


def test_csv_without_a_time_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("latitude;longitude\n1;2\n")
    with pytest.raises(ValueError, match="ts"):
        read_csv(path)


def test_csv_src_column_wins_over_the_accuracy_rule(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("tracked_at;latitude;longitude;accuracy;provider\n2024-05-01 10:00:00;1;2;900;wifi\n")
    (p,) = read_csv(path).points
    assert p.src == "wifi" and p.ts == datetime(2024, 5, 1, 10, tzinfo=UTC)


GPX = """<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.0" creator="test" xmlns="http://www.topografix.com/GPX/1/0">
<trk><trkseg>
<trkpt lat="30.1" lon="103.1"><time>2024-05-01T10:00:00Z</time><speed>3.5</speed><course>45</course></trkpt>
<trkpt lat="30.2" lon="103.2"></trkpt>
<trkpt lat="30.3" lon="103.3"><time>garbage</time></trkpt>
</trkseg><trkseg>
<trkpt lat="30.4" lon="103.4"><time>2024-05-01T09:59:00</time></trkpt>
<trkpt lat="30.5" lon="103.5"><time>2024-05-01T12:00:30+02:00</time></trkpt>
</trkseg></trk></gpx>
"""


def test_gpx_missing_and_garbage_times(tmp_path: Path) -> None:
    path = tmp_path / "t.gpx"
    path.write_text(GPX)
    track = read_track(path)
    assert [(s.where, s.reason) for s in track.skipped] == [
        ("track 0 segment 0 point 1", "no <time>"),
        ("track 0 segment 0 point 2", "unparseable <time> 'garbage'"),
    ]
    a, b, c = track.points
    assert (a.speed_mps, a.heading_deg) == (3.5, 45.0)
    assert b.ts == datetime(2024, 5, 1, 9, 59, tzinfo=UTC)  # zone-less: UTC
    assert c.ts == datetime(2024, 5, 1, 10, 0, 30, tzinfo=UTC)
    assert track.backward_steps() == [1]


def test_plt_bad_lines_and_short_header(tmp_path: Path) -> None:
    header = "Geolife trajectory\nWGS 84\nAltitude is in Feet\nReserved 3\n0,2,255,My Track,0,0,2,8421376\n0\n"
    path = tmp_path / "t.plt"
    path.write_text(header + "39.9,116.3,0,-777,39744.0,2008-10-23,00:00:00\n"
                    "39.9,116.3,0,100\n39.9,116.3,0,100,39744.0,2008-13-45,00:00:00\n"
                    "39.9,116.3,0,100,39744.0,2008-10-23,00:00:05\n")
    track = read_plt(path)
    assert [s.where for s in track.skipped] == ["line 8", "line 9"]
    assert [p.alt_m for p in track.points] == [None, pytest.approx(30.48)]
    short = tmp_path / "short.plt"
    short.write_text("Geolife trajectory\nWGS 84\n")
    with pytest.raises(ValueError, match="header"):
        read_plt(short)


def test_clock_problem_when_all_times_coincide(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("time,lat,lon\n" + "".join(f"2024-05-01T10:00:00.{i}Z,30.{i},103\n" for i in range(3)))
    problem = read_csv(path).clock_problem()
    assert problem is not None and "within one second" in problem


def test_unknown_extension_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown track format"):
        read_track(tmp_path / "t.kml")
