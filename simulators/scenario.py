"""The demo scenario in Xinjin, Chengdu: the respondent approaches the victim's
home and enters it, the victim presses panic, he leaves and drives into her
workplace, in the next police station's area. Positions only; the runner sends them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from simulators.walk import Walker, offset

HOME = (30.4310, 103.8615)  # the order's home zone centre (radius 300 m)
WORK = (30.4415, 103.8820)  # inside the workplace polygon


@dataclass(frozen=True)
class Tick:
    tracker: tuple[float, float] | None = None
    phone: tuple[float, float] | None = None
    panic: bool = False
    note: str = ""


def demo_ticks() -> Iterator[Tick]:
    phone_at = offset(*HOME, 20, -15)
    north = offset(*HOME, 1400, 0)
    inside = offset(*HOME, 80, 20)
    away = offset(*HOME, 900, 300)
    beyond_work = offset(*WORK, 0, 900)
    n = 0

    def tick(pos: tuple[float, float], note: str = "", panic: bool = False) -> Tick:
        nonlocal n
        n += 1
        return Tick(tracker=pos, phone=phone_at if n % 5 == 1 or panic else None, panic=panic, note=note)

    yield tick(north, "respondent 1.4 km north of the victim's home")
    for p in Walker([north, inside], step_m=90, noise_m=4):
        yield tick(p)
    for i in range(6):
        yield tick(offset(*inside, 3 * i, 0), "respondent inside the home zone" if i == 0 else "")
    yield tick(inside, "victim presses panic", panic=True)
    for i in range(3):
        yield tick(offset(*inside, -3 * i, 0))
    for p in Walker([inside, away], step_m=120, noise_m=4):
        yield tick(p, "")
    for p in Walker([away, WORK], step_m=150, noise_m=4):
        yield tick(p)
    for _ in range(4):
        yield tick(WORK, "respondent inside the workplace")
    for p in Walker([WORK, beyond_work], step_m=150, noise_m=4):
        yield tick(p)
