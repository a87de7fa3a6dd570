"""Device simulators that speak only the v1 wire contract (../shared/PROTOCOL.md), like real devices.

Nothing here imports ``service``: a simulator knows topics and JSON, nothing else.
"""

from simulators.device import SimDevice
from simulators.walk import Walker, offset

__all__ = ["SimDevice", "Walker", "offset"]
