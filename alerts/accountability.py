"""Who answered how fast: response-time figures per agency and alert kind (pure).

For every alert raised in a period, each recipient agency counts it as received (``raised``) and as
escalated when it escalated. Only the agency that must act, the alert's ``owner`` (the police agency
that must respond; rows without one: their first recipient, police first), answers for its clock: per
(agency, kind) the alerts it owned, how many of those are still unacknowledged, the time from raising
to its acknowledgement, dispatch, arrival on scene and resolution (p50 and p90 over the alerts that
reached that step; another recipient's note or acknowledgement is not a police response and never
counts), how many it acknowledged and never dispatched (a kind a unit goes out for, resolved without a
dispatch or past its dispatch deadline without one), and each deadline it missed (``acknowledge``,
``dispatch``, ``on_scene``: ``Alert.missed``, the agency that owned the alert when it passed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from alerts.escalation import DEADLINES, RESPONSE_KINDS

STEPS = ("acknowledged_at", "dispatched_at", "on_scene_at", "resolved_at")
_RESPONSE_KINDS = frozenset(k.value for k in RESPONSE_KINDS)


@dataclass
class Figures:
    raised: int = 0  # alerts it received
    owned: int = 0  # of those, the ones it had to act on
    unacknowledged: int = 0  # owned, neither acknowledged nor resolved
    escalated: int = 0  # received, and escalated
    acknowledged_never_dispatched: int = 0
    missed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DEADLINES, 0))
    seconds: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STEPS})

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"raised": self.raised, "owned": self.owned, "unacknowledged": self.unacknowledged,
                               "escalated": self.escalated,
                               "acknowledged_never_dispatched": self.acknowledged_never_dispatched,
                               "missed_deadlines": dict(self.missed)}
        for step, values in self.seconds.items():
            name = "time_to_" + step.removesuffix("_at").replace("acknowledged", "acknowledge").replace(
                "dispatched", "dispatch").replace("on_scene", "arrive").replace("resolved", "resolve")
            out[name] = {"n": len(values), "p50_s": percentile(values, 50), "p90_s": percentile(values, 90)}
        return out


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (the value a reader can find in the data), None without data."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n q / 100)
    return round(ordered[int(rank) - 1], 1)


def owner_of(row: Mapping[str, Any]) -> str | None:
    recipients = list(row.get("recipients") or ())
    return row.get("owner") or (recipients[0] if recipients else None)


def never_dispatched(row: Mapping[str, Any]) -> bool:
    """Acknowledged by its owner, no unit ever dispatched: resolved so, or its dispatch deadline passed."""
    if row["kind"] not in _RESPONSE_KINDS or row.get("acknowledged_at") is None or row.get("dispatched_at") is not None:
        return False
    return row.get("resolved_at") is not None or any(d == "dispatch" for d, _ in row.get("missed") or ())


def accountability(alerts: Iterable[Mapping[str, Any]], escalated_ids: set[str]) -> dict[tuple[str, str], Figures]:
    """``alerts``: rows with alert_id, kind, raised_at, recipients, owner, missed and the step times."""
    out: dict[tuple[str, str], Figures] = {}
    for a in alerts:
        raised_at: datetime = a["raised_at"]
        for agency in a["recipients"]:
            f = out.setdefault((agency, a["kind"]), Figures())
            f.raised += 1
            if a["alert_id"] in escalated_ids:
                f.escalated += 1
        owner = owner_of(a)
        if owner is not None:
            f = out.setdefault((owner, a["kind"]), Figures())
            f.owned += 1
            if a.get("acknowledged_at") is None and a.get("resolved_at") is None:
                f.unacknowledged += 1
            if never_dispatched(a):
                f.acknowledged_never_dispatched += 1
            for step in STEPS:
                at = a.get(step)
                if at is not None:
                    f.seconds[step].append((at - raised_at).total_seconds())
        for deadline, agency in a.get("missed") or ():
            if deadline in DEADLINES:
                out.setdefault((agency or owner or "", a["kind"]), Figures()).missed[deadline] += 1
    return out
