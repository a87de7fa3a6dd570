"""The live feed's fan-out: by agency, never blocking ingest, and a subscriber that falls behind is reset."""

from __future__ import annotations

from service.adapters.db.alerts_repo import OutboxItem
from service.live import MAX_QUEUED, RESET, AlertFeed


def item(i: int, topic: str) -> OutboxItem:
    return OutboxItem(i, 1, topic, f'{{"n": {i}}}'.encode())


def test_messages_go_to_their_agency_s_subscribers_only():
    feed = AlertFeed()
    west, east = feed.subscribe("police-west"), feed.subscribe("police-east")
    feed.publish([item(1, "stayaway/v1/agencies/police-west/alerts"), item(2, "stayaway/v1/devices/phone-001/notices"),
                  item(3, "stayaway/v1/agencies/police-east/alerts")])
    assert west.queue.get_nowait() == b'{"n": 1}' and west.queue.empty()
    assert east.queue.get_nowait() == b'{"n": 3}' and east.queue.empty()  # notices to phones never reach a board


def test_a_subscriber_that_falls_behind_is_reset_and_dropped():
    feed = AlertFeed()
    slow = feed.subscribe("police-west")
    feed.publish([item(i, "stayaway/v1/agencies/police-west/alerts") for i in range(MAX_QUEUED + 5)])
    got = [slow.queue.get_nowait() for _ in range(slow.queue.qsize())]
    assert len(got) == MAX_QUEUED + 1 and got[-1] == RESET
    assert feed.subscribers() == 0
