"""The version of an order in force at a time (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TypeVar

V = TypeVar("V")


def version_at(versions: Sequence[tuple[datetime, V]], at: datetime) -> V | None:
    """The version in force at ``at``: the latest whose effective time is not after it. ``versions``
    are (effective_from, version) in effect order; None before the first."""
    chosen = None
    for effective_from, version in versions:
        if effective_from <= at:
            chosen = version
        else:
            break
    return chosen
