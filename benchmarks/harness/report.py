"""Percentiles, latency summaries, formatting and the rich tables (a run's measures, then its targets)."""

from __future__ import annotations

import math
import sys
from datetime import datetime
from typing import Any


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, max(0, math.ceil(q / 100 * len(v)) - 1))]


def summary_ms(values_s: list[float]) -> dict[str, Any]:
    ms = [v * 1000 for v in values_s]
    return {"n": len(ms), "p50_ms": pct(ms, 50), "p99_ms": pct(ms, 99), "max_ms": max(ms) if ms else None,
            "mean_ms": sum(ms) / len(ms) if ms else None}


def parse_at(text: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def fmt(v: Any, unit: str = "") -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float):
        return f"{v:,.1f}{unit}"
    if isinstance(v, int):
        return f"{v:,}{unit}"
    return f"{v}{unit}"


def lat_row(s: dict[str, Any]) -> str:
    return f"p50 {fmt(s['p50_ms'])}  p99 {fmt(s['p99_ms'])}  max {fmt(s['max_ms'])} ms  (n={s['n']})"


def print_tables(title: str, rows: list[Any], targets: dict[str, bool], width: int,
                 columns: tuple[str, ...] = ("measure", "value")) -> None:
    """A rich table of ``columns`` (the first bold) holding ``rows`` (None starts a section), printed with
    the targets' met / NO table."""
    from rich.console import Console as RichConsole
    from rich.table import Table
    table = Table(title=title)
    table.add_column(columns[0], style="bold")
    for name in columns[1:]:
        table.add_column(name)
    for row in rows:
        if row is None:
            table.add_section()
        else:
            table.add_row(*row)
    out = RichConsole(width=width)
    out.print(table)
    goals = Table(title="targets")
    goals.add_column("target")
    goals.add_column("met")
    for name, ok in targets.items():
        goals.add_row(name, "[green]yes[/green]" if ok else "[red]NO[/red]")
    out.print(goals)
