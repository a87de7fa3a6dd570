"""One message as it came off the broker, before decoding: what the MQTT adapter hands the ingest loop."""

from __future__ import annotations

from datetime import datetime

import msgspec


class Inbound(msgspec.Struct, frozen=True, gc=False):  # one per message: a Struct builds in ~0.5 us
    topic: str
    payload: bytes
    received_at: datetime
    mid: int = 0
    qos: int = 0
    generation: int = 0
    lane: int = 0  # which ingest session it came through (0 reports, 1 panics)
