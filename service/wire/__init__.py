"""The v1 wire contract (../shared/PROTOCOL.md): inbound messages, decoding device messages, encoding alert
messages."""

from service.wire.decode import MAX_ARRAY_ITEMS, Decoded, decode
from service.wire.inbound import Inbound
from service.wire.messages import (
    InvalidMessage,
    LocationReport,
    PanicPress,
    Reason,
    StatusReport,
)
from service.wire.rfc3339 import format_ts, parse_ts

__all__ = [
    "MAX_ARRAY_ITEMS",
    "Decoded",
    "Inbound",
    "InvalidMessage",
    "LocationReport",
    "PanicPress",
    "Reason",
    "StatusReport",
    "decode",
    "format_ts",
    "parse_ts",
]
