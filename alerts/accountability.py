"""Who answered how fast: response-time figures per agency and alert kind (pure).

For every alert raised in a period, each recipient agency is accountable for it (police and
court both receive it; either may take it up). Per (agency, kind) the figures are the time
from raising to acknowledgement, dispatch, arrival on scene and resolution (p50 and p90 over
the alerts that reached that step), how many are still unacknowledged, and how many escalated.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

STEPS = ("acknowledged_at", "dispatched_at", "on_scene_at", "resolved_at")


@dataclass
class Figures:
    raised: int = 0
    unacknowledged: int = 0
    escalated: int = 0
    seconds: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STEPS})

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"raised": self.raised, "unacknowledged": self.unacknowledged, "escalated": self.escalated}
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


def accountability(alerts: Iterable[Mapping[str, Any]], escalated_ids: set[str]) -> dict[tuple[str, str], Figures]:
    """``alerts``: rows with alert_id, kind, raised_at, recipients and the step times."""
    out: dict[tuple[str, str], Figures] = {}
    for a in alerts:
        raised_at: datetime = a["raised_at"]
        for agency in a["recipients"]:
            f = out.setdefault((agency, a["kind"]), Figures())
            f.raised += 1
            if a.get("acknowledged_at") is None and a.get("resolved_at") is None:
                f.unacknowledged += 1
            if a["alert_id"] in escalated_ids:
                f.escalated += 1
            for step in STEPS:
                at = a.get(step)
                if at is not None:
                    f.seconds[step].append((at - raised_at).total_seconds())
    return out
