"""The live alert stream (server-sent events) of a running serve: an agency's officers see its alerts
the moment they are published, and no other agency's."""

from __future__ import annotations

import http.client
import json
import threading
import time
from datetime import UTC, datetime, timedelta

from simulators.walk import offset
from tests.support import builders


class Stream:
    def __init__(self, port: int, token: str) -> None:
        self.events: list[tuple[str, dict]] = []
        self.status: int | None = None
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.conn.request("GET", "/api/v1/alerts/stream", headers={"Authorization": f"Bearer {token}"})
        self.response = self.conn.getresponse()
        self.status = self.response.status
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        event = "message"
        try:
            for raw in self.response:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    self.events.append((event, json.loads(line[6:])))
                    event = "message"
        except (OSError, ValueError):
            pass

    def close(self) -> None:
        self.conn.close()


def test_an_agency_s_officers_see_its_alerts_live_and_only_its_own(devices, loaded, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    serve = loaded(sqlite_url)
    east = serve.add_token("east-desk", "police", "police-east")
    supervisor = serve.add_token("west-supervisor", "supervisor", "police-west")
    serve.start()
    west_stream, east_stream = Stream(serve.port, serve.tokens["west-dispatch"]), Stream(serve.port, east)
    supervisor_stream = Stream(serve.port, supervisor)
    try:
        assert (west_stream.status, east_stream.status, supervisor_stream.status) == (200, 200, 200)
        tracker, _ = devices()
        now = datetime.now(UTC)
        for i, north in enumerate([900, 200]):
            tracker.location(*offset(*builders.HOME, north, 0), acc=5.0, ts=now + timedelta(seconds=i))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not west_stream.events:
            time.sleep(0.05)
        [(event, message)] = west_stream.events[:1]
        assert event == "alert" and (message["kind"], message["event"], message["agency_id"]) == (
            "zone_breach", "raised", "police-west")
        time.sleep(1.0)
        assert east_stream.events == []  # not theirs
        assert [m["alert_id"] for _, m in supervisor_stream.events] == [message["alert_id"]]  # her own agency's
        # police get the agency's message as published (the distance into the zone: they answer the breach);
        # a supervisor gets none of what her zone gives away (issue 12, #5), and his fix still
        [(_, overseen)] = supervisor_stream.events
        assert "distance_m" in message and "confidence" in message
        assert not {"distance_m", "confidence", "eta_s", "victim"} & set(overseen)
        assert overseen["respondent"] == message["respondent"]
    finally:
        for s in (west_stream, east_stream, supervisor_stream):
            s.close()
