"""Her data is what reveals her (pure): what an alert, an event or a map says once her data is taken out.

Her positions and her places (the zones around her home, work, school) go only where the need-to-know
rule lets them (:func:`service.domain.access.victim_position_access`: police and court in scope, while an
alert that needs it is open and routed to them, or with a reason that is recorded). Anything computed
from them goes with them: a distance between the parties or into or to one of her zones beside his exact
fix is a circle around him that she (or her zone's edge) lies on, and two such circles intersect at her,
to metres. So are an ETA to her or her zone, a depth into it, the age of her fix, a breach's confidence
(``possible``: her zone's edge lies within his accuracy radius of him), the distance chart's series.

One function, :func:`without_her_data`, makes every reader's cut, with **allow-lists**: a field that is
not listed here as safe without her data is dropped for a caller who may not see her, so a field added
later stays out until someone decides it tells nothing about where she is. A caller who may see her gets
the item unchanged.

Kept without her data: what happened and when (kind, event, status, times, who acted), his own fixes, the
zone's id, kind and name (the order page names her zones), the order's distance (``min_distance_m``, a
term of the order). The agencies' MQTT messages (contract section 2) are not cut here: they go only to the
police and court an alert is routed to, who answer it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# a field's rule: True keeps its value whole; a mapping keeps a dict value (or each dict of a list value)
# cut by that mapping in turn (anything else under such a field is dropped: its shape is not known safe)
Fields = Mapping[str, "bool | Fields"]

_FIX: Fields = {"lat": True, "lon": True, "acc": True, "ts": True}  # his fix (the respondent's)

ALERT_FIELDS: Fields = {
    # an alert as the API lists it, an alert event of the timeline, an agency's alert message on a stream
    **dict.fromkeys((
        "alert_id", "order_id", "kind", "severity", "status", "event", "event_id", "event_seq", "episode_id",
        "agency_id", "zone_id", "condition", "retroactive", "crossed", "silent", "recipients",
        "at", "occurred_at", "raised_at", "last_event_at", "ended_at", "acknowledged_at", "acknowledged_by",
        "dispatched_at", "on_scene_at", "resolved_at", "resolved_by", "outcome", "escalation_level",
        "next_escalation_at", "by", "source", "note", "action", "unit", "referred_to", "device_id", "flips",
        "min_distance_m"), True),
    "escalation": {"level": True, "action": True, "escalated_to": True},
    "respondent": _FIX,
    "zone": {"zone_id": True, "kind": True, "name": True},
}
# not listed, so never without her data: victim, distance_m, depth_m, eta_s, confidence, victim_fix_age_s

MAP_FIELDS: Fields = {
    # the order page's map and chart (``service.web.map_data``): the police areas, his track and reports,
    # where he was at each alert, the order's distance and the chart's times
    "precincts": True, "respondent": True, "reports": True, "min_distance_m": True,
    "alerts": {"lat": True, "lon": True, "at": True, "kind": True, "event": True},
    "distance": {"t": True},
}
# not listed: zones (her places), victim (her track), distance.to_zone_m and distance.between_m


def without_her_data(item: Mapping[str, Any], sees_her: bool, fields: Fields = ALERT_FIELDS) -> dict[str, Any]:
    """``item`` as a caller gets it: unchanged (a shallow copy) when ``sees_her`` (the need-to-know rule
    said yes for this caller and order), else only its ``fields`` (``ALERT_FIELDS``: an alert, an event or
    an alert message; ``MAP_FIELDS``: the order page's map layers)."""
    if sees_her:
        return dict(item)
    return _cut(item, fields)


def _cut(item: Mapping[str, Any], fields: Fields) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in item.items():
        rule = fields.get(key, False)
        if rule is True:
            out[key] = value
        elif isinstance(rule, Mapping):
            if isinstance(value, Mapping):
                out[key] = _cut(value, rule)
            elif isinstance(value, list | tuple):
                out[key] = [_cut(v, rule) for v in value if isinstance(v, Mapping)]
            elif value is None:
                out[key] = None
    return out
