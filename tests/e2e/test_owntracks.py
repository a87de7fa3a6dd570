"""A victim who uses the OwnTracks app: her phone's OwnTracks messages stand for her enrolled device."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt

from simulators.walk import offset
from tests.support import builders


def publish(broker, topic: str, body: dict | None, retain: bool = False) -> None:  # type: ignore[no-untyped-def]
    """QoS 1, as the OwnTracks app does (``body`` None: an empty payload, which clears a retained one)."""
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"owntracks-{uuid.uuid4().hex[:6]}",
                    protocol=mqtt.MQTTv311)
    c.connect(broker.host, broker.port)
    c.loop_start()
    try:
        c.publish(topic, b"" if body is None else json.dumps(body), qos=1, retain=retain).wait_for_publish(5)
    finally:
        c.disconnect()
        c.loop_stop()


def test_her_owntracks_fix_is_her_phone_s_and_moves_the_zone_around_her(broker, devices, console, loaded,
                                                                        sqlite_url) -> None:  # type: ignore[no-untyped-def]
    topic = f"owntracks/alice{uuid.uuid4().hex[:4]}/phone"  # retained messages of other runs stay elsewhere
    order = builders.order(pre_alert_m=None)
    order["victim"]["owntracks_topic"] = topic
    serve = loaded(sqlite_url, orders=[order]).start()
    tracker, _ = devices()
    now = datetime.now(UTC)
    her = offset(*builders.HOME, 0, 3000)  # 3 km east of home: away from the fixed zones
    try:
        publish(broker, topic, {"_type": "location", "lat": her[0], "lon": her[1], "acc": 8,
                                "tst": int(now.timestamp()), "batt": 80, "tid": "AL"}, retain=True)  # as the app does
        publish(broker, topic, {"_type": "lwt", "tst": int(now.timestamp())})
        publish(broker, "owntracks/nobody/phone", {"_type": "location", "lat": 1, "lon": 2, "tst": 3})
        time.sleep(1.0)
    finally:
        publish(broker, topic, None, retain=True)  # the broker may be shared with other tests: leave nothing retained
    tracker.location(*offset(*her, 150, 0), acc=5.0, ts=now + timedelta(seconds=2))  # 150 m from her
    assert console.wait_for(lambda: len(console.where(kind="proximity", event="raised")) == 2)
    police = console.where(kind="proximity", event="raised", agency_id="police-east")
    assert police and abs(police[0]["victim"]["lat"] - her[0]) < 1e-6  # where her OwnTracks app said she was
    counters = serve.counters()
    assert counters.get("rejected.unknown_device", 0) >= 1 and counters.get("rejected.not_a_report", 0) >= 1
