"""Import agencies and orders from the contract's files (section 4) into the database.

A running ``stayaway serve`` picks the changes up within ``config_poll_s``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy.engine import Engine

from geofence import FrameCache, ZoneGeometryError, compile_zone
from service.adapters.db import config_repo
from service.domain.monitor import zone_anchor
from service.domain.orders import OrderSpec, parse_agencies, parse_order
from service.domain.setup_checks import SetupWarning, setup_warnings
from service.errors import InvalidInput


@dataclass(frozen=True)
class ImportedOrder:
    order_id: str
    version: int
    source: str
    warnings: tuple[SetupWarning, ...] = ()


def read_json(path: Path) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from exc
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"{path} is not valid JSON (error at byte {exc.pos})") from exc


def import_agencies(engine: Engine, collection: Any, clock: Callable[[], datetime]) -> int:
    agencies = parse_agencies(collection)
    with engine.begin() as conn:
        return config_repo.save_agencies(conn, agencies, clock())


def import_orders(engine: Engine, bodies: Iterable[tuple[Any, str]], clock: Callable[[], datetime]) -> list[ImportedOrder]:
    """``bodies``: (order object or array of them, source label). All or nothing."""
    specs: list[tuple[OrderSpec, str, list[SetupWarning]]] = []
    frames = FrameCache()
    for body, source in bodies:
        for i, item in enumerate(body if isinstance(body, list) else [body]):
            try:
                spec = parse_order(item)
                check_zones(spec, frames)
            except InvalidInput as exc:
                where = f"{source}[{i}]" if isinstance(body, list) else source
                raise InvalidInput(f"{where}: {exc}", exc.field) from exc
            specs.append((spec, source, setup_warnings(spec, frames)))
    out = []
    with engine.begin() as conn:
        kinds = config_repo.agency_kinds(conn)
        now = clock()
        for spec, source, warnings in specs:
            if kinds.get(spec.court_id) != "court":
                raise InvalidInput(f"{source}: court {spec.court_id} is not a known court agency; import agencies first",
                                   "court")
            stored = [{"code": w.code, "message": w.message, "field": w.field} for w in warnings]
            try:  # its devices and OwnTracks topics are bound there, or refused as through the API
                version = config_repo.save_order(conn, spec, source, now, stored)
            except InvalidInput as exc:
                raise InvalidInput(f"{source}: {exc}", exc.field) from exc
            out.append(ImportedOrder(spec.order_id, version, source, tuple(warnings)))
    return out


def check_zones(spec: OrderSpec, frames: FrameCache) -> None:
    """Compile every zone once, so a geometry the engine cannot use is refused at import."""
    for i, z in enumerate(spec.zones):
        try:
            frame = frames.frame_for(*zone_anchor(spec.zones[0]))
            compile_zone(z.zone_id, z.kind, z.name, z.geometry, z.radius_m, frame)
        except ZoneGeometryError as exc:  # our own messages carry no coordinates
            raise InvalidInput(str(exc), f"zones.features[{i}].geometry") from exc
        except (ValueError, TypeError, IndexError, KeyError) as exc:  # a library's might: name the kind only
            raise InvalidInput(f"zone {z.zone_id}: unusable geometry ({exc.__class__.__name__})",
                               f"zones.features[{i}].geometry") from exc
