"""Her data is what reveals her (pure): what an alert, an event or the map says once her data is taken out.

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

**The moving zone's moments are hers too.** Her phone moves the moving zone: a ``proximity`` is raised by
the first fix of his inside her circle, a ``pre_alert`` of the moving zone (no zone id) by the first on the
ring of ``min_distance_m`` + ``pre_alert_m``, and each ends with the first fix beyond it plus the exit
margin. Such an event beside his fix, or at a moment that picks one of his fixes out of his track, puts
him on a circle around her; three approaches place her. So for a caller who may not see her, such an
event (:func:`is_moving_zone`) comes without any fix of his, with its start and end rounded down to
:data:`BUCKET` and what follows its raise (escalations, officers' steps) at the raise's bucket plus its
delay rounded down (``coarse: true``), without its sequence number, escalation deadline or what says how
long he stayed (the updates that only say he is still inside: :func:`quiet_update`); readers count and
place it by its rounded times. His positions near such an episode are withheld (:func:`withheld_windows`):
from :data:`MARGIN` before the bucket of its start to :data:`MARGIN` after the bucket of its end (open
while it lasts), and, while a moving zone is watched, from :data:`MARGIN` before the bucket of his latest
fix on (an episode raised later is not known yet, and the track shown before it must not be the one it
would hide); so are the fixes that other events of no fixed zone carry in those windows. What remains
depends on where she is only through the buckets: an episode of that kind happened in that half hour.
Fixed zones' events are not cut this way: their place is known to the officers in scope (the order names
them) and police go where he is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from service.wire.rfc3339 import format_ts, parse_ts

# a field's rule: True keeps its value whole; a mapping keeps a dict value (or each dict of a list value)
# cut by that mapping in turn (anything else under such a field is dropped: its shape is not known safe)
Fields = Mapping[str, "bool | Fields"]

_FIX: Fields = {"lat": True, "lon": True, "acc": True, "ts": True}  # his fix (the respondent's)
_ESCALATION: Fields = {"level": True, "action": True, "escalated_to": True, "deadline": True, "overdue_s": True}

ALERT_FIELDS: Fields = {
    # an alert as the API lists it, an alert event of the timeline, an agency's alert message on a stream
    **dict.fromkeys((
        "alert_id", "order_id", "kind", "severity", "status", "event", "event_id", "event_seq", "episode_id",
        "agency_id", "zone_id", "condition", "retroactive", "crossed", "silent", "recipients",
        "at", "occurred_at", "raised_at", "last_event_at", "ended_at", "acknowledged_at", "acknowledged_by",
        "dispatched_at", "on_scene_at", "resolved_at", "resolved_by", "outcome", "escalation_level",
        "next_escalation_at", "by", "source", "note", "action", "unit", "referred_to", "device_id", "flips",
        "min_distance_m", "owner", "actor_agency", "dispatch_due_at", "on_scene_due_at", "missed_deadlines"), True),
    "escalation": _ESCALATION,
    "respondent": _FIX,
    "zone": {"zone_id": True, "kind": True, "name": True},
}
# not listed, so never without her data: victim, distance_m, depth_m, eta_s, confidence, victim_fix_age_s

# The moving zone's times, for a caller who may not see her, are rounded down to BUCKET, and his positions
# are withheld MARGIN before and after its buckets. How far that leaves her from what a reader can work out
# is about his speed times what the reader can't pin in time: a reader who bounds his speed by the fastest
# fixes shown and knows the half hour in which he came within her circle can rule out only the places he
# could not have reached from his last fix shown before and his first after. On the walk of
# tests/integration/test_her_moments.py (three straight approaches at 2 m/s from 3 km, started at four
# times of the hour), 10 minutes for both left 0.07-0.18 km2, reaching 0.2-0.4 km from her, its middle
# 12-104 m from her; 30 minutes, 27-45 km2 reaching 5-6 km (the test asserts more than 2 km), its middle
# still 1.0-1.6 km from her: three approaches from around her tell that she is around their middle.
BUCKET = timedelta(minutes=30)
MARGIN = timedelta(minutes=30)
TIME_FIELDS = ("at", "occurred_at", "raised_at", "last_event_at", "ended_at", "acknowledged_at", "dispatched_at",
               "on_scene_at", "resolved_at")
MOVING_ZONE_FIELDS: Fields = {
    # an alert, an event or a message of the moving zone: what happened and who acted, its times rounded
    **dict.fromkeys((
        "alert_id", "order_id", "kind", "severity", "status", "event", "episode_id", "agency_id", "zone_id",
        "condition", "retroactive", "recipients", "acknowledged_by", "resolved_by", "outcome", "escalation_level",
        "next_escalation_at", "by", "source", "note", "action", "unit", "referred_to", "min_distance_m",
        "owner", "actor_agency", *TIME_FIELDS), True),
    "escalation": _ESCALATION,
}
# not listed: his fix (respondent), event_id and event_seq (they count the updates: how long he was inside)

MAP_FIELDS: Fields = {
    # the order page's map and chart (``service.web.map_data``): the police areas, his track and reports,
    # where he was at each alert, the order's distance, the chart's times and the windows withheld
    "precincts": True, "respondent": True, "reports": True, "min_distance_m": True, "withheld": True,
    "alerts": {"lat": True, "lon": True, "at": True, "kind": True, "event": True},
    "distance": {"t": True},
}
# not listed: zones (her places), victim (her track), distance.to_zone_m and distance.between_m


def without_her_data(item: Mapping[str, Any], sees_her: bool, fields: Fields = ALERT_FIELDS,
                     moving_zone: bool | None = None, raised_at: Any = None) -> dict[str, Any]:
    """``item`` as a caller gets it: unchanged (a shallow copy) when ``sees_her`` (the need-to-know rule
    said yes for this caller and order), else only its ``fields`` (``ALERT_FIELDS``: an alert, an event or
    an alert message; ``MAP_FIELDS``: the order page's map layers). An alert, event or message of the
    moving zone (``moving_zone``, or :func:`is_moving_zone` when None) keeps only ``MOVING_ZONE_FIELDS``,
    with its times rounded (:func:`_rounded`; ``raised_at``: its alert's raise, when the item does not carry
    it), ``next_escalation_at`` null, nothing that says how long he stayed, and says so (``coarse: true``)."""
    if sees_her:
        return dict(item)
    if fields is ALERT_FIELDS and (is_moving_zone(item) if moving_zone is None else moving_zone):
        return _rounded(_cut(item, MOVING_ZONE_FIELDS), raised_at)
    return _cut(item, fields)


_STEPS = ("acknowledged_at", "dispatched_at", "on_scene_at", "resolved_at")  # people's steps on an alert


def _rounded(out: dict[str, Any], raised_at: Any) -> dict[str, Any]:
    """A moving zone's alert, event or message with only what its buckets say. Its start and its end (when
    he came within her circle or ring, when he left it) are rounded down to ``BUCKET``. A step that follows
    the raise (an escalation, an officer's step) is put at the raise's bucket plus its delay rounded down
    to ``BUCKET``: an escalation comes the policy's seconds after the raise and officers answer soon after
    it, so a step's own bucket would tell in which part of its bucket the raise was (with a response time,
    to the second). What says how long he stayed goes: a step's ``condition`` (had he left by then?), the
    end's ``status`` (had someone acted by then?), ``next_escalation_at``."""
    anchor = _time(out.get("raised_at") or raised_at or out.get("occurred_at"))
    event = out.get("event")
    step = event in ("escalated", "acknowledged", "resolved") or (event == "updated" and bool(out.get("action")))
    for key in TIME_FIELDS:
        if out.get(key) is None:
            continue
        at = _time(out[key])
        if at is None:
            del out[key]  # not a time: its shape is not known safe
        elif anchor is not None and (key in _STEPS or (key == "at" and step)):
            out[key] = format_ts(floor(anchor) + max(0, (at - anchor) // BUCKET) * BUCKET)
        else:
            out[key] = format_ts(floor(at))
    if "next_escalation_at" in out:
        out["next_escalation_at"] = None  # the raise plus the policy's seconds: the raise to the second
    if step:
        out.pop("condition", None)
    if event == "escalated" or (event == "updated" and not step):
        out.pop("status", None)
    if "last_event_at" in out and "raised_at" in out:  # an alert: its last event may be an escalation step
        out["last_event_at"] = max(out[k] for k in ("raised_at", *_STEPS) if out.get(k) is not None)
    out["coarse"] = True
    return out


def _time(value: Any) -> datetime | None:
    return value.astimezone(UTC) if isinstance(value, datetime) and value.tzinfo is not None else parse_ts(value)


def is_moving_zone(item: Mapping[str, Any]) -> bool:
    """An alert, event or message of the moving zone: a ``proximity``, or a ``pre_alert`` of no fixed zone
    (an item that does not say which zone its ``pre_alert`` is of counts as the moving zone's)."""
    kind = item.get("kind")
    return kind == "proximity" or (kind == "pre_alert" and not item.get("zone_id") and not item.get("zone"))


def quiet_update(item: Mapping[str, Any]) -> bool:
    """A moving zone's ``updated`` that only says he is still inside (no officer's step, no end): how many
    there are says how long he stayed. Left out for a caller who may not see her."""
    return (is_moving_zone(item) and item.get("event") == "updated" and item.get("condition") != "ended"
            and not item.get("action"))


def stream_message(message: Mapping[str, Any]) -> dict[str, Any] | None:
    """An agency's alert message as a stream gives it to a caller who may never see her (a supervisor): cut
    by :func:`without_her_data` (a moving zone's: without his fix, its times rounded); None for a moving
    zone's quiet update."""
    out = without_her_data(message, False)
    return None if quiet_update(out) else out


def floor(at: datetime) -> datetime:
    """``at`` (aware) rounded down to ``BUCKET``, in UTC."""
    at = at.astimezone(UTC)
    day = datetime(at.year, at.month, at.day, tzinfo=UTC)
    return day + ((at - day) // BUCKET) * BUCKET


def shown_events(events: Iterable[Mapping[str, Any]], sees_her: bool, since: datetime, until: datetime,
                 raised: Mapping[str, datetime] | None = None, windows: list[Window] | None = None
                 ) -> list[dict[str, Any]]:
    """A timeline's events (in the log's order, each with ``at`` and ``alert_id``) as a caller gets them:
    those of [since, until), each cut by :func:`without_her_data`. For a caller who may not see her, a
    moving zone's event has its times rounded (a step that follows the raise by the raise's bucket plus its
    delay: ``raised``, alert id -> its raise), counts by them (in the window when they are), its quiet
    updates are left out, and it is placed by its rounded time before the other events of that moment, its
    alert's events together in the order the alerts were raised, the start, the end, the system's steps,
    then people's: nothing in the order says when it happened to the second, nor how long he stayed.
    Another event of no fixed zone (a device's health, her phone's silence) whose fix of his falls in a
    withheld window (``windows``) comes without it, like his track there; a fixed zone's keeps its fix."""
    out: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    first: dict[str, int] = {}
    for i, e in enumerate(events):
        moving = not sees_her and is_moving_zone(e)
        item = without_her_data(e, sees_her, raised_at=(raised or {}).get(e.get("alert_id", "")))
        if moving and quiet_update(item):
            continue
        if not sees_her and windows and not moving and not item.get("zone_id") and not item.get("zone"):
            fix = item.get("respondent")
            at = parse_ts(fix.get("ts")) if isinstance(fix, Mapping) else None
            if fix is not None and (at is None or withheld(at, windows)):
                del item["respondent"]
        at = parse_ts(item["at"])
        if at is None or not since <= at < until:
            continue
        # a moving zone's: by its rounded time, then its alert (in the order the alerts were raised), then the
        # start, the end, the system's steps, people's steps (each kind in the log's order): never how its end
        # fell between an escalation and an officer's step
        event = item.get("event")
        rank = 0 if event == "raised" else 1 if event == "updated" and not item.get("action") else \
            2 if event == "escalated" else 3
        key = (item["at"], 0, first.setdefault(e.get("alert_id", ""), i), rank, i) if moving else (item["at"], 1, i, 0, i)
        out.append((key, item))
    if not sees_her:
        out.sort(key=lambda x: x[0])
    return [item for _, item in out]


Window = tuple[datetime, datetime | None]  # [from, to); to None: open


def withheld_windows(spans: Iterable[tuple[datetime, datetime | None]], latest: datetime | None) -> list[Window]:
    """Where his positions are withheld from a caller who may not see her, merged and sorted: around each
    moving-zone episode (``spans``: its first and last moment of his, None while it lasts), from ``MARGIN``
    before the bucket of its start to ``MARGIN`` after the bucket of its end; and from ``MARGIN`` before the
    bucket of ``latest`` on (his latest fix, while a moving zone is watched: what a later episode would
    hide). Only the buckets count: moving the episode within them changes nothing."""
    raw: list[Window] = [(floor(a) - MARGIN, None if b is None else floor(b) + BUCKET + MARGIN) for a, b in spans]
    if latest is not None:
        raw.append((floor(latest) - MARGIN, None))
    merged: list[Window] = []
    for a, b in sorted(raw, key=lambda w: w[0]):
        if merged and (merged[-1][1] is None or a <= merged[-1][1]):
            last = merged[-1]
            merged[-1] = (last[0], None if last[1] is None or b is None else max(last[1], b))
        else:
            merged.append((a, b))
    return merged


def withheld(at: datetime, windows: Iterable[Window]) -> bool:
    return any(a <= at and (b is None or at < b) for a, b in windows)


CLOCK_FLAGS = frozenset({"ts_future", "ts_implausible"})  # such a fix counts at its receive time (monitor.effective_ts)


def withheld_fix(device_ts: datetime, received_at: datetime | None, flags: Iterable[str],
                 windows: list[Window]) -> bool:
    """Whether one fix of his is withheld: its time, or its receive time when its clock was not believed."""
    times = [device_ts] + ([received_at] if received_at is not None and CLOCK_FLAGS.intersection(flags) else [])
    return any(withheld(at, windows) for at in times)


def in_period(windows: Iterable[Window], since: datetime, until: datetime) -> list[dict[str, str]]:
    """The windows as the API shows them, cut to the period asked for."""
    out = []
    for a, b in windows:
        lo, hi = max(a, since), until if b is None else min(b, until)
        if lo < hi:
            out.append({"from": format_ts(lo), "to": format_ts(hi)})
    return out


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
