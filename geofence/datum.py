"""Chinese map datums (GCJ-02, BD-09) to and from WGS-84.

Devices report WGS-84, but a court order's zone may have been drawn on a
Chinese web map, whose coordinates are deliberately offset:

* **GCJ-02** ("Mars coordinates", 国测局坐标) is the datum the Chinese state
  mandates for published maps (Amap/Gaode, Tencent, Google Maps in mainland
  China). It is WGS-84 plus a smooth, non-linear, undocumented-but-leaked
  offset of a few hundred metres (about 530 m E and 160 m N in Beijing).
* **BD-09** (Baidu Maps) is GCJ-02 with a second, Baidu-specific distortion
  on top: a small polar perturbation plus a fixed shift of
  (0.0065 deg lon, 0.006 deg lat), i.e. several hundred metres more.

The forward formulas (WGS-84 -> GCJ-02 -> BD-09) are the public reference
algorithm, as implemented identically by e.g. googollee/eviltransform
(``go/transform.go``, MIT), hujiulong/gcoord (``src/crs/GCJ02.ts``,
``src/crs/BD09.ts``, MIT) and Artoria2e5/PRCoords (CC0); the constants are
named below.

Why the inverses are iterative
------------------------------
Neither forward transform has a closed-form inverse: the GCJ-02 offset is a
function of the *WGS-84* position, which is the unknown. The common one-step
"inverse" ``wgs = gcj - offset(gcj)`` evaluates the offset at the wrong
point and is off by up to a few metres; the published one-step BD-09 inverse
is off by up to ~0.2 m. Here both are inverted exactly (to ~1e-9 deg, about
0.1 mm) by fixed-point refinement: start from the one-step guess ``w``, then
repeat ``w -= forward(w) - target`` until the residual is below
``INVERSE_TOLERANCE_DEG``. The offsets change slowly with position (over
China the forward Jacobians differ from the identity by at most ~0.008 for
GCJ-02 and ~0.023 for BD-09), so the iteration is a strong contraction and
needs at most 3 corrections in practice; it is bounded by
``MAX_INVERSE_ITERATIONS`` and raises ``ArithmeticError`` rather than return
an unconverged point.

Where the offsets apply
-----------------------
GCJ-02 is only defined for China; like the reference implementations we use
the reference algorithm's rectangle test (``out_of_china``: lon 72.004 to
137.8347, lat 0.8293 to 55.8271, bounds inclusive) and apply no offset
outside it. This rectangle covers all of mainland China (including the
western tip of Xinjiang at ~73.5 E and the eastern tip at ~135.1 E, which the
tighter 73.66-135.05 box of some ports cuts off) but is only a rectangle:

* **Hong Kong, Macau and Taiwan** lie inside it, so ``gcj02`` offsets them,
  although they are not mainland China: whether a given map offsets them
  depends on the provider (maps made there use WGS-84 or local grids). An
  order there must declare the datum of the map it was really drawn on, and
  ``wgs84`` unless that map is known to be offset.
* Neighbouring countries partly inside the rectangle (Mongolia, the Korean
  peninsula, south-west Japan, much of South and South-East Asia) get the
  offset too. An order there must not be declared ``gcj02``.
* In a strip one offset wide (< 1 km) along the rectangle's edges - sea or
  foreign land, never mainland China - the forward transform jumps, so a
  GCJ-02 point there can have two WGS-84 pre-images. The inverse decides by
  testing the GCJ-02 input against the rectangle, as the reference ports do.

BD-09 is applied everywhere (as in gcoord): Baidu's shift is not tied to the
rectangle, and only its GCJ-02 stage is.

The module is pure: stdlib ``math`` only, no I/O, clock or logging.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Final

__all__ = ["DATUMS", "from_wgs84", "geometry_to_wgs84", "out_of_china", "to_wgs84"]

DATUMS: Final = ("wgs84", "gcj02", "bd09")

# --- GCJ-02 constants (reference algorithm) -------------------------------
# Krasovsky 1940 ellipsoid: semi-major axis (m) and first eccentricity squared.
KRASOVSKY_A: Final = 6378245.0
KRASOVSKY_EE: Final = 0.00669342162296594323
# Origin of the offset polynomials (deg).
GCJ_ORIGIN_LON: Final = 105.0
GCJ_ORIGIN_LAT: Final = 35.0
# The reference algorithm's "out of China" rectangle (deg, inclusive).
CHINA_LON_MIN: Final = 72.004
CHINA_LON_MAX: Final = 137.8347
CHINA_LAT_MIN: Final = 0.8293
CHINA_LAT_MAX: Final = 55.8271

# --- BD-09 constants (Baidu's published transform) ------------------------
BD_X_PI: Final = math.pi * 3000.0 / 180.0  # perturbation frequency (rad/deg)
BD_RADIUS_WOBBLE: Final = 0.00002  # deg, amplitude of the radial term
BD_ANGLE_WOBBLE: Final = 0.000003  # rad, amplitude of the angular term
BD_SHIFT_LON: Final = 0.0065  # deg
BD_SHIFT_LAT: Final = 0.006  # deg

# --- Inversion ------------------------------------------------------------
INVERSE_TOLERANCE_DEG: Final = 1e-9  # residual |forward(w) - target| per axis
MAX_INVERSE_ITERATIONS: Final = 30

_Pair = tuple[float, float]
_Transform = Callable[[float, float], _Pair]


def out_of_china(lon: float, lat: float) -> bool:
    """True when GCJ-02 applies no offset at (lon, lat): outside the reference rectangle."""
    return not (CHINA_LON_MIN <= lon <= CHINA_LON_MAX and CHINA_LAT_MIN <= lat <= CHINA_LAT_MAX)


def _gcj02_offset_m(x: float, y: float) -> _Pair:
    """The reference algorithm's offset in metres (east, north) at x = lon - 105, y = lat - 35."""
    shared = (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    east = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x)) + shared
            + (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
            + (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0)
    north = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x)) + shared
             + (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
             + (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y / 30.0 * math.pi)) * 2.0 / 3.0)
    return east, north


def _gcj02_shift(lon: float, lat: float) -> _Pair:
    """WGS-84 -> GCJ-02 with no rectangle test: the offset converted to degrees on Krasovsky 1940."""
    east_m, north_m = _gcj02_offset_m(lon - GCJ_ORIGIN_LON, lat - GCJ_ORIGIN_LAT)
    rad_lat = math.radians(lat)
    w = 1.0 - KRASOVSKY_EE * math.sin(rad_lat) ** 2
    metres_per_rad_lat = KRASOVSKY_A * (1.0 - KRASOVSKY_EE) / (w * math.sqrt(w))  # meridional radius
    metres_per_rad_lon = KRASOVSKY_A / math.sqrt(w) * math.cos(rad_lat)  # parallel radius
    return (lon + math.degrees(east_m / metres_per_rad_lon),
            lat + math.degrees(north_m / metres_per_rad_lat))


def _wgs84_to_gcj02(lon: float, lat: float) -> _Pair:
    if out_of_china(lon, lat):
        return lon, lat
    return _gcj02_shift(lon, lat)


def _gcj02_to_bd09(lon: float, lat: float) -> _Pair:
    """Baidu's forward transform."""
    r = math.hypot(lon, lat) + BD_RADIUS_WOBBLE * math.sin(lat * BD_X_PI)
    theta = math.atan2(lat, lon) + BD_ANGLE_WOBBLE * math.cos(lon * BD_X_PI)
    return r * math.cos(theta) + BD_SHIFT_LON, r * math.sin(theta) + BD_SHIFT_LAT


def _bd09_to_gcj02_published(lon: float, lat: float) -> _Pair:
    """Baidu's published one-step inverse (off by up to ~0.2 m): the starting guess."""
    x, y = lon - BD_SHIFT_LON, lat - BD_SHIFT_LAT
    r = math.hypot(x, y) - BD_RADIUS_WOBBLE * math.sin(y * BD_X_PI)
    theta = math.atan2(y, x) - BD_ANGLE_WOBBLE * math.cos(x * BD_X_PI)
    return r * math.cos(theta), r * math.sin(theta)


def _refine_inverse(forward: _Transform, target: _Pair, guess: _Pair) -> _Pair:
    """Solve forward(w) == target by fixed-point refinement from guess (see module docstring)."""
    lon, lat = guess
    for _ in range(MAX_INVERSE_ITERATIONS):
        f_lon, f_lat = forward(lon, lat)
        d_lon, d_lat = f_lon - target[0], f_lat - target[1]
        if abs(d_lon) < INVERSE_TOLERANCE_DEG and abs(d_lat) < INVERSE_TOLERANCE_DEG:
            return lon, lat
        lon, lat = lon - d_lon, lat - d_lat
    raise ArithmeticError(f"inverse datum transform did not converge at {target}")


def _gcj02_to_wgs84(lon: float, lat: float) -> _Pair:
    if out_of_china(lon, lat):
        return lon, lat
    one_step = _gcj02_shift(lon, lat)
    guess = (2.0 * lon - one_step[0], 2.0 * lat - one_step[1])
    # Refine against the rectangle-free shift so the solver sees a smooth function.
    return _refine_inverse(_gcj02_shift, (lon, lat), guess)


def _bd09_to_gcj02(lon: float, lat: float) -> _Pair:
    return _refine_inverse(_gcj02_to_bd09, (lon, lat), _bd09_to_gcj02_published(lon, lat))


def _check_datum(datum: str) -> None:
    if datum not in DATUMS:
        raise ValueError(f"unknown datum {datum!r}; expected one of {', '.join(DATUMS)}")


def _check_position(lon: float, lat: float) -> None:
    # NaN fails every comparison and infinities are out of range, so this also rejects non-finite input.
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise ValueError(f"coordinate ({lon}, {lat}) must be finite, with lon in -180..180 and lat in -90..90")


def to_wgs84(lon: float, lat: float, datum: str) -> tuple[float, float]:
    """Convert one (lon, lat) position in ``datum`` to WGS-84 (exact inverse, ~1e-9 deg).

    Raises ValueError for an unknown datum or a non-finite / out-of-range position.
    """
    _check_datum(datum)
    _check_position(lon, lat)
    if datum == "gcj02":
        return _gcj02_to_wgs84(lon, lat)
    if datum == "bd09":
        return _gcj02_to_wgs84(*_bd09_to_gcj02(lon, lat))
    return float(lon), float(lat)


def from_wgs84(lon: float, lat: float, datum: str) -> tuple[float, float]:
    """Convert one WGS-84 (lon, lat) position to ``datum`` (the forward reference transforms).

    Raises ValueError for an unknown datum or a non-finite / out-of-range position.
    """
    _check_datum(datum)
    _check_position(lon, lat)
    if datum == "gcj02":
        return _wgs84_to_gcj02(lon, lat)
    if datum == "bd09":
        return _gcj02_to_bd09(*_wgs84_to_gcj02(lon, lat))
    return float(lon), float(lat)


# GeoJSON geometry type -> nesting depth of its "coordinates" above the positions.
_POSITION_DEPTH: Final = {
    "Point": 0,
    "MultiPoint": 1,
    "LineString": 1,
    "MultiLineString": 2,
    "Polygon": 2,
    "MultiPolygon": 3,
}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _convert_position(position: Any, datum: str) -> list[Any]:
    if (not isinstance(position, Sequence) or len(position) < 2
            or not all(_is_number(v) for v in position[:2])):
        raise ValueError(f"not a GeoJSON position: {position!r}")
    lon, lat = to_wgs84(position[0], position[1], datum)
    return [lon, lat, *position[2:]]  # altitude and any further elements are kept


def _convert_nested(coordinates: Any, depth: int, datum: str) -> list[Any]:
    if depth == 0:
        return _convert_position(coordinates, datum)
    if not isinstance(coordinates, Sequence) or isinstance(coordinates, str):
        raise ValueError(f"malformed GeoJSON coordinates: {coordinates!r}")  # noqa: TRY004 - parsed JSON: a bad value
    return [_convert_nested(c, depth - 1, datum) for c in coordinates]


def geometry_to_wgs84(geometry: dict[str, Any], datum: str) -> dict[str, Any]:
    """A new GeoJSON geometry with every position converted from ``datum`` to WGS-84.

    Supports Point, MultiPoint, LineString, MultiLineString, Polygon,
    MultiPolygon and GeometryCollection. Positions keep their extra elements
    (altitude). Other members are copied (shallowly), except ``bbox``, which
    would be in the old datum and is dropped. The input is not mutated.
    Raises ValueError for an unknown datum or geometry type, or a malformed
    or out-of-range position.
    """
    _check_datum(datum)
    kind = geometry.get("type")
    out = {key: value for key, value in geometry.items() if key not in ("bbox", "coordinates", "geometries")}
    if kind == "GeometryCollection":
        out["geometries"] = [geometry_to_wgs84(g, datum) for g in geometry["geometries"]]
        return out
    if kind not in _POSITION_DEPTH:
        raise ValueError(f"unsupported GeoJSON geometry type {kind!r}")
    out["coordinates"] = _convert_nested(geometry["coordinates"], _POSITION_DEPTH[kind], datum)
    return out
