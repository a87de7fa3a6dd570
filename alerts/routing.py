"""Who receives an alert: the police agency whose jurisdiction holds the
triggering location, and the order's court (contract section 2, Routing).

Jurisdictions are WGS-84 (Multi)Polygons; invalid ones (real precinct files
have some) are repaired with ``make_valid``. Where jurisdictions overlap, the
agency whose polygon is smallest wins (the most local one), ties broken by id,
so routing is deterministic.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import shapely
from shapely.geometry import shape
from shapely.validation import make_valid


@dataclass(frozen=True, slots=True)
class Agency:
    agency_id: str
    name: str
    kind: str  # police | court | support
    jurisdiction: dict[str, Any] | None = None  # GeoJSON geometry, WGS-84
    webhook_url: str | None = None  # alert messages are also POSTed here (signed), besides MQTT
    # its own escalation steps per alert kind or severity (``alerts.escalation``), for alerts it must handle
    escalation: Mapping[str, Sequence[Sequence[object]]] | None = field(default=None, compare=False)
    escalate_to: tuple[str, ...] = ()  # the agencies a next_agency step adds as recipients
    # its response deadlines after it acknowledges ({"dispatch_s": ..., "on_scene_s": ...}: alerts.escalation)
    response: Mapping[str, float] | None = field(default=None, compare=False, kw_only=True)
    legal_profile: str | None = None  # a court's legal profile (service.domain.profiles); None: the deployment's


class JurisdictionIndex:
    """Point-in-jurisdiction lookup for police agencies (STRtree)."""

    def __init__(self, agencies: Iterable[Agency]) -> None:
        self._ids: list[str] = []
        geoms = []
        for agency in agencies:
            if agency.kind != "police" or not agency.jurisdiction:
                continue
            geom = shape(agency.jurisdiction)
            if not geom.is_valid:
                geom = make_valid(geom)
            if geom.is_empty:
                continue
            self._ids.append(agency.agency_id)
            geoms.append(geom)
        self._geoms = geoms
        self._areas = [g.area for g in geoms]
        for g in geoms:
            shapely.prepare(g)
        self._tree = shapely.STRtree(geoms) if geoms else None

    def police_for(self, lat: float, lon: float) -> str | None:
        if self._tree is None:
            return None
        point = shapely.Point(lon, lat)
        hits = [int(i) for i in self._tree.query(point, predicate="intersects")]
        if not hits:
            return None
        best = min(hits, key=lambda i: (self._areas[i], self._ids[i]))
        return self._ids[best]

    def __len__(self) -> int:
        return len(self._ids)


def route(index: JurisdictionIndex, court_id: str, location: tuple[float, float] | None,
          responsible: str | None = None) -> Sequence[str]:
    """Recipients, police first; the court always receives it. ``responsible``: the order's responsible
    police agency, which receives what no jurisdiction holds (a location outside every one, or none)."""
    recipients: list[str] = []
    police = index.police_for(*location) if location is not None else None
    police = police or responsible
    if police is not None:
        recipients.append(police)
    if court_id not in recipients:
        recipients.append(court_id)
    return recipients
