"""Pure geofencing: metric frames, compiled zones and membership transitions.

Nothing in this package performs I/O, reads the clock or the environment;
callers pass every time and threshold in. ``tests/unit/test_purity.py`` checks it.
"""

from geofence.engine import (
    OUTSIDE,
    Confidence,
    Evaluation,
    Fix,
    Rules,
    Transition,
    ZoneState,
    classify,
    evaluate,
    evaluate_moving,
    party_distance_m,
)
from geofence.frame import FrameCache, LocalFrame, Position
from geofence.reach import Reach
from geofence.zones import CircleZone, CompiledZone, PolygonZone, ZoneGeometryError, compile_zone

__all__ = [
    "OUTSIDE",
    "CircleZone",
    "Confidence",
    "Position",
    "classify",
    "evaluate_moving",
    "party_distance_m",
    "CompiledZone",
    "Evaluation",
    "Fix",
    "FrameCache",
    "LocalFrame",
    "PolygonZone",
    "Reach",
    "Rules",
    "Transition",
    "ZoneGeometryError",
    "ZoneState",
    "compile_zone",
    "evaluate",
]
