"""Officers handle alerts through the JSON API; escalation runs on its own clock, across a restart."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

from service.wire.rfc3339 import format_ts
from simulators import SimDevice
from simulators.walk import offset
from tests.e2e.conftest import write_json
from tests.support import builders


def breach(tracker: SimDevice) -> None:
    now = datetime.now(UTC)
    for i, north in enumerate([900, 200]):
        tracker.location(*offset(*builders.HOME, north, 0), acc=5.0, ts=now + timedelta(seconds=i))


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_an_officer_acknowledges_dispatches_and_resolves_and_everyone_is_told(devices, console, loaded, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    serve = loaded(sqlite_url)
    east = serve.add_token("east-dispatch", "police", "police-east")
    supervisor = serve.add_token("west-supervisor", "supervisor", "police-west")
    serve.start()
    tracker, phone = devices()
    breach(tracker)
    assert console.wait_for(lambda: len(console.where(kind="zone_breach", event="raised")) == 2)
    alert_id = console.where(kind="zone_breach", event="raised")[0]["alert_id"]

    status, body = serve.post(f"/api/v1/alerts/{alert_id}/acknowledge", {}, token="")  # nobody signed in
    assert (status, body["error"]["code"]) == (401, "unauthorized")
    status, body = serve.post(f"/api/v1/alerts/{alert_id}/acknowledge", {}, token=east)  # not theirs: as if unknown
    assert (status, body["error"]["code"]) == (404, "not_found")
    status, body = serve.post(f"/api/v1/alerts/{alert_id}/acknowledge", {"actor": "someone-else"})
    assert status == 200 and body["alert"]["status"] == "acknowledged"
    assert body["alert"]["acknowledged_by"] == "west-dispatch"  # the signed-in principal, never the body's word
    assert console.wait_for(lambda: len(console.where(alert_id=alert_id, event="acknowledged")) == 2)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any(n["kind"] == "info" for n in phone.notices):
        time.sleep(0.05)
    assert any(n["kind"] == "info" and n["alert_id"] == alert_id for n in phone.notices)

    status, body = serve.post(f"/api/v1/alerts/{alert_id}/resolve", {"outcome": "respondent_warned"})
    assert (status, body["error"]["code"]) == (409, "note_required")
    status, body = serve.post(f"/api/v1/alerts/{alert_id}/dispatch", {"unit": "car 12"})
    assert status == 200 and body["alert"]["status"] == "dispatched"
    status, body = serve.post(f"/api/v1/alerts/{alert_id}/resolve",
                              {"outcome": "respondent_warned", "note": "warned at the gate"})
    assert status == 200 and body["alert"]["status"] == "resolved" and body["alert"]["outcome"] == "respondent_warned"
    assert console.wait_for(lambda: len(console.where(alert_id=alert_id, event="resolved")) == 2)
    resolved = console.where(alert_id=alert_id, event="resolved", agency_id="court-xinjin")[0]
    assert resolved["status"] == "resolved" and resolved["outcome"] == "respondent_warned"
    status, body = serve.post(f"/api/v1/alerts/{alert_id}/acknowledge", {})
    assert (status, body["error"]["code"]) == (404, "not_found")
    status, body = serve.post(f"/api/v1/alerts/{alert_id}/dispatch", {"unit": 7})
    assert (status, body["error"]["field"]) == (400, "unit")
    status, listed = serve.get("/api/v1/alerts?status=resolved")
    assert [a["alert_id"] for a in listed["alerts"]] == [alert_id]
    # what the officer wrote is on the record, with the step it came with
    status, timeline = serve.get(f"/api/v1/orders/{builders.order()['order_id']}/timeline")
    steps = {e["event"]: e for e in timeline["events"] if e["alert_id"] == alert_id}
    assert status == 200 and steps["resolved"]["note"] == "warned at the gate" and "note" not in steps["raised"]

    # accountability: who answered how fast, as JSON and as Prometheus metrics
    assert serve.get("/api/v1/accountability")[0] == 403  # an officer's token: not a supervisor
    status, acc = serve.get("/api/v1/accountability", token=supervisor)
    west = next(f for f in acc["figures"] if (f["agency_id"], f["kind"]) == ("police-west", "zone_breach"))
    assert status == 200 and west["raised"] == 1 and west["unacknowledged"] == 0
    assert west["time_to_acknowledge"]["n"] == 1 and 0 <= west["time_to_acknowledge"]["p50_s"] < 60
    assert west["time_to_resolve"]["p50_s"] >= west["time_to_dispatch"]["p50_s"] >= west["time_to_acknowledge"]["p50_s"]
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    scrape = urllib.request.Request(f"http://127.0.0.1:{serve.port}/metrics",
                                    headers={"Authorization": f"Bearer {supervisor}"})
    with urllib.request.urlopen(scrape, timeout=5) as r:
        families = {f.name: f for f in text_string_to_metric_families(r.read().decode())}
    samples = [s for s in families["stayaway_alert_response_seconds"].samples
               if s.labels == {"agency": "police-west", "kind": "zone_breach", "step": "acknowledged", "quantile": "0.5"}]
    assert len(samples) == 1 and samples[0].value == west["time_to_acknowledge"]["p50_s"]
    assert "stayaway_alerts_unacknowledged" in families and "stayaway_ingest_messages" in families


def test_escalation_fires_on_its_deadlines_across_a_kill_9_restart(devices, console, loaded, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    serve = loaded(sqlite_url)
    serve.env["STAYAWAY_ESCALATION"] = json.dumps({"critical": [[6, "renotify"], [12, "supervisor"]]})
    serve.start()
    tracker, _ = devices()
    breach(tracker)
    assert console.wait_for(lambda: len(console.where(kind="zone_breach", event="raised")) == 2)
    raised = console.where(kind="zone_breach", event="raised")[0]
    serve.stop(kill=True)  # between raising and the first deadline
    serve.start()
    assert console.wait_for(lambda: len(console.where(event="escalated")) == 4, timeout=30)
    time.sleep(2)
    escalated = console.where(event="escalated", agency_id="police-west")
    assert [(m["escalation"]["level"], m["escalation"]["action"], m["escalation"]["deadline"]) for m in escalated] == [
        (1, "renotify", "acknowledge"), (2, "supervisor", "acknowledge")]
    for m, due_s in zip(escalated, (6, 12), strict=True):
        late = (ts(m["at"]) - ts(raised["at"])).total_seconds() - due_s
        assert -0.5 <= late <= 5.0, (due_s, late)  # within 5 s of its deadline, never early
    assert len(console.where(event="escalated")) == 4  # each step once, to police and court


def test_an_agency_s_own_policy_escalates_to_the_agency_it_names(devices, console, serve_factory, sqlite_url,
                                                                 tmp_path) -> None:  # type: ignore[no-untyped-def]
    agencies = json.loads(json.dumps(builders.AGENCIES))
    west = next(f for f in agencies["features"] if f["properties"]["agency_id"] == "police-west")
    west["properties"]["escalation"] = {"zone_breach": [[2, "renotify"], [4, "next_agency"]]}
    west["properties"]["escalate_to"] = ["police-east"]  # standing in for the city bureau above the station
    serve = serve_factory(sqlite_url)
    serve.env["STAYAWAY_ESCALATION"] = json.dumps({"critical": [[600, "renotify"]]})  # the agency's own comes first
    serve.cli("agencies", "import", write_json(tmp_path / "agencies.geojson", agencies))
    serve.cli("orders", "import", write_json(tmp_path / "orders.json", [builders.order(**builders.ZONES_ONLY)]))
    serve.start()
    tracker, _ = devices()
    breach(tracker)
    assert console.wait_for(lambda: len(console.where(event="escalated", agency_id="police-east")) == 1, timeout=20)
    [step] = console.where(event="escalated", agency_id="police-east")
    assert {k: step["escalation"][k] for k in ("level", "action", "escalated_to", "deadline")} == {
        "level": 2, "action": "next_agency", "escalated_to": ["police-east"], "deadline": "acknowledge"}
    assert step["kind"] == "zone_breach" and "respondent" in step  # the added police see what the first ones see
    for first in ("police-west", "court-xinjin"):  # the first receivers stay on it
        assert [m["escalation"]["action"] for m in console.where(event="escalated", agency_id=first)] == [
            "renotify", "next_agency"]
    assert console.where(event="raised", agency_id="police-east") == []  # it joined at the escalation


def test_only_the_police_stop_their_clock_a_court_clerk_s_acknowledgement_is_on_record(  # type: ignore[no-untyped-def]
        devices, console, serve_factory, sqlite_url, tmp_path) -> None:
    """Issue 13, item 4, through the broker and the database, across a kill -9: the court's acknowledgement
    leaves the alert open and the police escalation fires on time; the police acknowledgement stops the
    acknowledgement steps and starts the dispatch deadline, which escalates when missed; accountability counts
    the alert as acknowledged and never dispatched."""
    agencies = json.loads(json.dumps(builders.AGENCIES))
    west = next(f for f in agencies["features"] if f["properties"]["agency_id"] == "police-west")
    west["properties"]["escalation"] = {"zone_breach": [[5, "renotify"], [14, "supervisor"]]}
    west["properties"]["response"] = {"dispatch_s": 10, "on_scene_s": 600}
    serve = serve_factory(sqlite_url)
    serve.cli("agencies", "import", write_json(tmp_path / "agencies.geojson", agencies))
    serve.cli("orders", "import", write_json(tmp_path / "orders.json", [builders.order(**builders.ZONES_ONLY)]))
    police = serve.add_token("west-dispatch", "police", "police-west")
    court = serve.add_token("court-desk", "court", "court-xinjin")
    supervisor = serve.add_token("west-supervisor", "supervisor", "police-west")
    serve.start()
    tracker, _ = devices()
    breach(tracker)
    assert console.wait_for(lambda: len(console.where(kind="zone_breach", event="raised")) == 2)
    raised = console.where(kind="zone_breach", event="raised", agency_id="court-xinjin")[0]
    alert_id, raised_at = raised["alert_id"], ts(raised["at"])
    assert raised["owner"] == "police-west"  # the court receives it; the police must act

    status, body = serve.post(f"/api/v1/alerts/{alert_id}/acknowledge", {"note": "seen at the desk"}, token=court)
    assert status == 200 and body["alert"]["status"] == "open" and body["alert"]["acknowledged_at"] is None
    assert body["alert"]["next_escalation_at"] == format_ts(raised_at + timedelta(seconds=5))  # unchanged
    assert console.wait_for(lambda: len(console.where(alert_id=alert_id, action="acknowledged_by_other")) == 2)
    noted = console.where(alert_id=alert_id, action="acknowledged_by_other", agency_id="police-west")[0]
    assert (noted["event"], noted["status"], noted["actor_agency"]) == ("updated", "open", "court-xinjin")
    assert console.where(alert_id=alert_id, event="acknowledged") == []
    status, body = serve.post(f"/api/v1/alerts/{alert_id}/resolve", {"outcome": "victim_safe", "note": "she called us"},
                              token=court)
    assert (status, body["error"]["code"]) == (409, "not_owner")

    # the police clock runs on: its first step on time, to both
    assert console.wait_for(lambda: len(console.where(alert_id=alert_id, event="escalated")) == 2, timeout=20)
    first = console.where(alert_id=alert_id, event="escalated", agency_id="police-west")[0]
    assert first["escalation"]["action"] == "renotify" and first["escalation"]["deadline"] == "acknowledge"
    late = (ts(first["at"]) - raised_at).total_seconds() - 5
    assert -0.5 <= late <= 5.0, late

    status, body = serve.post(f"/api/v1/alerts/{alert_id}/acknowledge", {}, token=police)
    acked_at = ts(body["alert"]["acknowledged_at"])
    assert status == 200 and body["alert"]["status"] == "acknowledged" and body["alert"]["acknowledged_by"] == "west-dispatch"
    assert body["alert"]["dispatch_due_at"] == format_ts(acked_at + timedelta(seconds=10))
    assert body["alert"]["next_escalation_at"] == body["alert"]["dispatch_due_at"]
    assert (acked_at - raised_at).total_seconds() < 14  # before the supervisor step, which must not come now
    serve.stop(kill=True)  # the clock is the alert's, in the database
    serve.start()
    assert console.wait_for(lambda: len(console.where(alert_id=alert_id, event="escalated")) == 4, timeout=30)
    time.sleep(2)
    steps = console.where(alert_id=alert_id, event="escalated", agency_id="police-west")
    assert [(m["escalation"]["action"], m["escalation"]["deadline"]) for m in steps] == [
        ("renotify", "acknowledge"), ("supervisor", "dispatch")]  # no acknowledgement step after the police's
    assert ts(steps[1]["at"]) >= acked_at + timedelta(seconds=10)  # never early
    assert steps[1]["owner"] == "police-west" and steps[1]["status"] == "acknowledged"

    status, body = serve.post(f"/api/v1/alerts/{alert_id}/resolve", {"outcome": "respondent_warned",
                                                                    "note": "phoned him; he left"}, token=police)
    assert status == 200 and body["alert"]["status"] == "resolved" and body["alert"]["dispatched_at"] is None
    status, acc = serve.get("/api/v1/accountability", token=supervisor)
    figures = next(f for f in acc["figures"] if (f["agency_id"], f["kind"]) == ("police-west", "zone_breach"))
    assert status == 200 and figures["owned"] == 1 and figures["acknowledged_never_dispatched"] == 1
    assert figures["missed_deadlines"] == {"acknowledge": 1, "dispatch": 1, "on_scene": 0}
    assert figures["time_to_acknowledge"]["p50_s"] == round((acked_at - raised_at).total_seconds(), 1)
