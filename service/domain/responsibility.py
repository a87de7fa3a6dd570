"""Which police agency answers for an order (pure): every safety alert reaches police (LAW.md).

An order's **responsible police agency** is, in this order:

1. the order's ``police_agency_id`` (a known police agency), set by the court;
2. the police jurisdiction that holds her home zone (a zone of kind ``home``);
3. the police jurisdiction that holds one of the order's zones (in the order's zone order).

An order for which none is found is refused at issue (:class:`NoPoliceAgency`): an alert of it would
reach the court alone. Routing (``alerts.routing.route``) sends a location-based alert to the
jurisdiction holding the location, and to the responsible agency when the location lies outside every
jurisdiction (or there is no location: a silent device); the court always. At issue, each zone lying
outside every jurisdiction is named in a set-up warning (:func:`zones_outside`).
"""

from __future__ import annotations

from collections.abc import Mapping

from alerts import JurisdictionIndex
from service.domain.orders import OrderSpec, ZoneSpec
from service.errors import InvalidInput


class NoPoliceAgency(InvalidInput):
    """No police agency answers for the order (the API's 422 ``no_police_agency``)."""

    code = "no_police_agency"


class UnknownPoliceAgency(InvalidInput):
    code = "unknown_police_agency"


def zone_point(zone: ZoneSpec) -> tuple[float, float]:
    """(lat, lon) inside the zone: a circle's centre, a polygon's representative point."""
    geometry = zone.geometry
    if geometry.get("type") == "Point":
        lon, lat = geometry["coordinates"][:2]
        return float(lat), float(lon)
    from shapely.geometry import shape

    p = shape(geometry).representative_point()
    return float(p.y), float(p.x)


def responsible_police(spec: OrderSpec, index: JurisdictionIndex, kinds: Mapping[str, str],
                       strict: bool = True) -> str | None:
    """The police agency that answers for the order (see the module's rules); None: none can be found.
    When ``police_agency_id`` names no police agency: :class:`UnknownPoliceAgency` (``strict``: at issue),
    else the jurisdictions' rules (a running order whose named agency went away still reaches police)."""
    if spec.police_agency_id is not None:
        if kinds.get(spec.police_agency_id) == "police":
            return spec.police_agency_id
        if strict:
            raise UnknownPoliceAgency(f"police_agency_id {spec.police_agency_id} is not a known police agency",
                                      "police_agency_id")
    homes = [z for z in spec.zones if z.kind == "home"]
    for zone in (*homes, *(z for z in spec.zones if z.kind != "home")):
        police = _police_at(index, zone)
        if police is not None:
            return police
    return None


def require_police(spec: OrderSpec, index: JurisdictionIndex, kinds: Mapping[str, str]) -> str:
    police = responsible_police(spec, index, kinds)
    if police is None:
        raise NoPoliceAgency(
            "no police agency answers for this order: none of its zones lies in an imported police jurisdiction and "
            "it names no police_agency_id; every safety alert must reach police: set police_agency_id, or import "
            "the agencies whose jurisdictions hold its zones", "police_agency_id")
    return police


def zones_outside(spec: OrderSpec, index: JurisdictionIndex) -> list[str]:
    """The ids of the order's zones that lie outside every police jurisdiction (their alerts go to the
    responsible agency, which may be far away)."""
    return [z.zone_id for z in spec.zones if _police_at(index, z) is None]


def _police_at(index: JurisdictionIndex, zone: ZoneSpec) -> str | None:
    try:
        lat, lon = zone_point(zone)
    except (ValueError, TypeError, KeyError, IndexError):
        return None
    return index.police_for(lat, lon)
