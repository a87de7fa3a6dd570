"""Pure geofencing: metric frames, compiled zones and membership transitions.

Nothing in this package performs I/O, reads the clock or the environment;
callers pass every time and threshold in. ``tests/unit/test_purity.py`` checks it.
"""

from geofence.engine import Evaluation, Fix, Rules, Transition, ZoneState, evaluate
from geofence.frame import FrameCache, LocalFrame
from geofence.reach import Reach
from geofence.zones import CircleZone, CompiledZone, PolygonZone, ZoneGeometryError, compile_zone

__all__ = [
    "CircleZone",
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
