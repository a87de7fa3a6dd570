"""Evidence fit for a Chinese court: the report in Chinese (or English), whether he had been served before
each breach, who was served how, and a redacted edition for the respondent's side that verifies like the
full one and holds none of her data."""

from __future__ import annotations

import io
import os
import re
from datetime import timedelta
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from service.domain import law
from service.evidence.bundle import TEXTS, export, verify
from service.order_admin import OrderAdmin
from simulators.walk import offset
from tests.integration.test_pipeline import T0, make_pipeline, msg, walk_in
from tests.support import builders
from tests.support.zips import entries, rezip

KEY = Ed25519PrivateKey.generate()
ORDER_ID = "PSO-2026-0001"
REASON = "被申请人多次骚扰申请人，法院裁定延长"  # the court's reason, in Chinese
NOTE = "民警已到场，被申请人已离开"  # the officer's note on resolving the breach
COURT = law.Actor("judge-wang", "court")


def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    text = "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(entries(data)["report.pdf"])).pages)
    # pypdf reads the two-byte codes of fpdf2's embedded CID encoding as a NUL and the character (poppler's
    # pdftotext reads them right); the characters themselves come from the font's ToUnicode map
    return text.replace("\x00", "")


def resolve_with_note(engine, note: str) -> None:  # type: ignore[no-untyped-def]
    """An officer's note on the first breach: through the alert service, as the console writes it."""
    import sqlalchemy as sa

    from service.adapters.db import schema as t

    with engine.begin() as conn:
        last = conn.execute(sa.select(t.alert_log).order_by(t.alert_log.c.id.desc())).mappings().first()
        conn.execute(sa.insert(t.alert_log).values(
            alert_id=last["alert_id"], event_seq=last["event_seq"] + 1, event="resolved", status="resolved",
            actor="officer-li", source="console", at=last["at"] + timedelta(minutes=20), message=last["message"],
            note=note))


def extend_with_reason(engine, reason: str) -> None:  # type: ignore[no-untyped-def]
    import sqlalchemy as sa

    from service.adapters.db import schema as t

    with engine.begin() as conn:
        conn.execute(sa.insert(t.order_events).values(order_id=ORDER_ID, event="extended", at=T0 + timedelta(hours=3),
                                                      actor_id="judge-wang", role="court", reason=reason))


@pytest.fixture
def served_case(engine):  # type: ignore[no-untyped-def]
    """Served on him by personal delivery the day before he walks into her home zone; the victim's side
    served later; a note and a reason in Chinese."""
    pipeline = make_pipeline(engine)
    admin = OrderAdmin(engine, lambda: T0 + timedelta(hours=2))
    admin.record_service(ORDER_ID, "respondent", T0 - timedelta(hours=20), "直接送达 personal delivery", COURT)
    pipeline.process(walk_in())
    admin.record_service(ORDER_ID, "victim", T0 + timedelta(hours=1), "邮寄 post", COURT)
    resolve_with_note(engine, NOTE)
    extend_with_reason(engine, REASON)
    return engine


def test_the_report_is_in_chinese_by_default_with_the_chinese_texts_intact(served_case) -> None:  # type: ignore[no-untyped-def]
    data = export(served_case, ORDER_ID, KEY, lambda: T0 + timedelta(days=2), "web:judge-wang")
    assert verify(data).ok
    text = pdf_text(data)
    for phrase in (REASON, NOTE, "保护令", "证据报告", "法律程序记录", "警报事件", "进入禁止区域", "送达记录",
                   "直接送达", "完整版"):
        assert phrase in text, phrase
    assert "Legal history" not in text and "??" not in text


def test_the_report_in_english_has_english_labels_and_still_the_chinese_texts(served_case) -> None:  # type: ignore[no-untyped-def]
    text = pdf_text(export(served_case, ORDER_ID, KEY, lambda: T0, "web:judge-wang", locale="en"))
    for phrase in ("evidence report", "Legal history", "Alert events", "Zone breach", "Service", REASON, NOTE,
                   "Full edition"):
        assert phrase in text, phrase
    assert "法律程序记录" not in text


def test_every_report_text_is_in_both_languages() -> None:
    assert all(set(texts) == {"zh-CN", "en"} and all(texts.values()) for texts in TEXTS.values())


def test_a_breach_says_whether_he_had_been_served_before_it(served_case) -> None:  # type: ignore[no-untyped-def]
    zh = pdf_text(export(served_case, ORDER_ID, KEY, lambda: T0, "x"))
    en = pdf_text(export(served_case, ORDER_ID, KEY, lambda: T0, "x", locale="en"))
    served = builders.rfc3339(T0 - timedelta(hours=20))
    assert f"served before: yes ({served} by 直接送达 personal delivery)" in en
    assert "此前是否已向被申请人送达：是" in zh and served in zh
    csv = entries(export(served_case, ORDER_ID, KEY, lambda: T0, "x"))["timeline.csv"].decode()
    assert ",yes\r\n" in csv


def test_a_breach_before_service_says_not_yet_served(engine) -> None:  # type: ignore[no-untyped-def]
    pipeline = make_pipeline(engine)
    pipeline.process(walk_in())
    OrderAdmin(engine, lambda: T0 + timedelta(hours=2)).record_service(
        ORDER_ID, "respondent", T0 + timedelta(hours=1), "personal delivery", COURT)  # after he walked in
    en = pdf_text(export(engine, ORDER_ID, KEY, lambda: T0, "x", locale="en"))
    assert "served before: no: not yet served" in en and "served before: yes" not in en
    assert "此前是否已向被申请人送达：否，尚未送达" in pdf_text(export(engine, ORDER_ID, KEY, lambda: T0, "x"))


def test_service_lines_name_the_party_and_the_method(served_case) -> None:  # type: ignore[no-untyped-def]
    en = pdf_text(export(served_case, ORDER_ID, KEY, lambda: T0, "x", locale="en"))
    zh = pdf_text(export(served_case, ORDER_ID, KEY, lambda: T0, "x"))
    assert "served on the Respondent by 直接送达 personal delivery" in en
    assert "served on the Victim by 邮寄 post" in en
    assert "向被申请人送达，方式：直接送达 personal delivery" in zh and "方式：邮寄 post" in zh
    timeline = orjson.loads(entries(export(served_case, ORDER_ID, KEY, lambda: T0, "x"))["timeline.json"])
    assert [(s["party"], s["method"]) for s in timeline["service"]] == [
        ("respondent", "直接送达 personal delivery"), ("victim", "邮寄 post")]


def test_the_same_case_gives_the_same_bytes(served_case) -> None:  # type: ignore[no-untyped-def]
    import time

    first = [export(served_case, ORDER_ID, KEY, lambda: T0, "x", edition=e) for e in ("full", "redacted")]
    time.sleep(2.1)  # past the zip's two-second time resolution: no wall clock in the entries either
    assert first == [export(served_case, ORDER_ID, KEY, lambda: T0, "x", edition=e) for e in ("full", "redacted")]


# -- the redacted edition ----------------------------------------------------------------------------------

def approach(start_seq: int = 1) -> list[Any]:
    """He walks in from the north-east into her home zone (his coordinates share no digits with hers), while
    her phone reports near his path (a proximity alert) and she presses panic."""
    home_lat, home_lon = builders.HOME
    his = [offset(home_lat, home_lon, north, north * 0.7 + 37) for north in (1900, 1200, 700, 260, 140)]
    out = [msg("trk-001", "location", builders.location(start_seq + i, lat, lon, ts=T0 + timedelta(seconds=30 * i)))
           for i, (lat, lon) in enumerate(his)]
    out.append(msg("phone-001", "location", builders.location(1, *HER_FIX, ts=T0 + timedelta(seconds=5))))
    out.append(msg("phone-001", "panic", {"seq": 2, "ts": builders.rfc3339(T0 + timedelta(seconds=50)),
                                          "lat": HER_FIX[0], "lon": HER_FIX[1], "acc": 9.0}))
    return out


HER_FIX = (30.4391180, 103.8708693)  # 900 m north and east of her home: he passes within 500 m of her


def her_numbers() -> list[re.Pattern[bytes]]:
    """Her coordinates and her zones' as the bundle's JSON, CSV or report would write them: each as a whole
    number (not the start of a longer one of his)."""
    numbers = [*builders.HOME, *HER_FIX, *(c for point in builders.WORK_POLYGON for c in point)]
    return [re.compile(rb"(?<![\d.])" + re.escape(repr(float(x)).encode()) + rb"(?!\d)") for x in set(numbers)]


def found(body: bytes) -> list[bytes]:
    return [p.pattern for p in her_numbers() if p.search(body)]


@pytest.fixture
def redacted_case(engine):  # type: ignore[no-untyped-def]
    pipeline = make_pipeline(engine, min_distance_m=500, pre_alert_m=300)
    OrderAdmin(engine, lambda: T0).record_service(ORDER_ID, "respondent", T0 - timedelta(hours=1), "personal delivery",
                                                  COURT)
    pipeline.process(approach())
    return engine


def all_json(files: dict[str, bytes]) -> list[Any]:
    out = [orjson.loads(line) for line in files["records.jsonl"].splitlines()]
    out += [orjson.loads(files[n]) for n in ("timeline.json", "timeline.geojson", "manifest.json")]
    return out


def walk(value: Any, path: str = ""):  # type: ignore[no-untyped-def]
    if isinstance(value, dict):
        for k, v in value.items():
            yield f"{path}.{k}", k, v
            yield from walk(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from walk(v, f"{path}[{i}]")


def test_the_full_edition_holds_her_data_the_redacted_one_none(redacted_case) -> None:  # type: ignore[no-untyped-def]
    full = entries(export(redacted_case, ORDER_ID, KEY, lambda: T0, "x", edition="full"))
    data = export(redacted_case, ORDER_ID, KEY, lambda: T0, "x", edition="redacted")
    red = entries(data)
    # the search can find her: the full edition has her fix, her zones and the distances
    blob = b"".join(full.values())
    assert len(found(blob)) == len(her_numbers()), found(blob)
    assert b'"distance_m"' in blob and b'"victim"' in blob
    # his own coordinates share no digits with hers, so a hit below would be hers
    his = [r for r in (orjson.loads(x) for x in full["records.jsonl"].splitlines())
           if r["record"] == "location_report" and r["device_id"] == "trk-001"]
    assert his and not found(orjson.dumps(his))
    # the redacted edition: none of her coordinates in any file's bytes, nor in the report's text
    text = pdf_text(data).encode()
    for name, body in {**red, "report.pdf (text)": text}.items():
        assert not found(body), (name, found(body))
        assert not re.search(rb"(?<!min_)distance_m|depth_m|eta_s|confidence|victim_fix_age_s|geometry.{0,40}Polygon",
                             body.replace(b'"geometry": {"type": "LineString"', b"").replace(
                                 b'"geometry":{"coordinates"', b"")), name
    # no victim position, no zone shape, no distance anywhere in its JSON
    for item in all_json(red):
        for where, key, value in walk(item):
            assert key not in ("distance_m", "depth_m", "eta_s", "confidence", "victim_fix_age_s", "radius_m",
                               "schedule"), where
            if key == "victim":
                assert not (isinstance(value, dict) and {"lat", "lon"} & set(value)), where
            if key == "geometry":
                assert value["type"] in ("LineString", "Point"), where  # his track and his fixes only
            if key == "device_id":
                assert value != "phone-001", where  # nothing her phone reported
    alerts = {orjson.loads(line)["message"][next(iter(orjson.loads(line)["message"]))]["kind"]
              for line in full["records.jsonl"].splitlines() if orjson.loads(line)["record"] == "alert_log"}
    assert {"zone_breach", "proximity"} <= alerts, alerts  # her zone and her moving zone, both cut below
    kinds = {orjson.loads(line)["record"] for line in red["records.jsonl"].splitlines()}
    assert "panic_press" not in kinds and "alert_log" not in kinds and "access_audit" not in kinds
    assert {"order_version", "service_record", "alert_event"} <= kinds
    features = orjson.loads(red["timeline.geojson"])["features"]
    assert not [f for f in features if f["properties"]["layer"] == "zone"]
    body = next(orjson.loads(line) for line in red["records.jsonl"].splitlines()
                if orjson.loads(line)["record"] == "order_version")["body"]
    assert [z["zone_id"] for z in body["zones"]] == ["home", "work"] and body["victim"] == {"person_id": "V-1"}


def test_the_redacted_edition_verifies_says_so_and_catches_tampering(redacted_case, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.support.serve import run_cli

    data = export(redacted_case, ORDER_ID, KEY, lambda: T0, "x", edition="redacted")
    v = verify(data)
    assert v.ok and v.edition == "redacted", v.problems
    assert verify(export(redacted_case, ORDER_ID, KEY, lambda: T0, "x")).edition == "full"
    assert "删减版" in pdf_text(data) and "Redacted edition" in pdf_text(
        export(redacted_case, ORDER_ID, KEY, lambda: T0, "x", locale="en", edition="redacted"))
    files = entries(data)
    lines = files["records.jsonl"].splitlines()
    changed = b"\n".join([*lines[:-1], lines[-1].replace(b'"kind"', b'"kinD"')]) + b"\n"
    assert any("records.jsonl" in p for p in verify(rezip({**files, "records.jsonl": changed})).problems)
    forged = orjson.loads(files["manifest.json"])
    forged["edition"] = "full"
    assert any("signature" in p for p in verify(rezip({
        **files, "manifest.json": orjson.dumps(forged, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)})).problems)
    assert not verify(rezip({**files, "report.pdf": files["report.pdf"] + b" "})).ok
    (tmp_path / "r.zip").write_bytes(data)
    ok = run_cli(["evidence", "verify", str(tmp_path / "r.zip")],
                 {k: v for k, v in os.environ.items() if not k.startswith("STAYAWAY_")})
    assert ok.returncode == 0 and "redacted edition" in ok.stdout, ok.stdout


# -- through the API -----------------------------------------------------------------------------------------

def test_the_api_gives_the_callers_language_and_the_edition_asked_for(served_case) -> None:  # type: ignore[no-untyped-def]
    import sqlalchemy as sa
    from argon2 import PasswordHasher

    from service.adapters.db import schema as t
    from service.auth import Auth
    from service.web import WebDeps, create_app

    engine = served_case
    auth = Auth(engine, lambda: T0, PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1))
    court = {"Authorization": "Bearer " + auth.create_token("court-xinjin-desk", "court", "court-xinjin")}
    client = create_app(WebDeps(engine, lambda: {"ready": True, "counters": {}}, None, auth,
                                OrderAdmin(engine, lambda: T0), KEY), {"TESTING": True}).test_client()
    url, reason = f"/api/v1/orders/{ORDER_ID}/evidence", {"reason": "hearing on 3 December"}

    zh = client.post(url, headers=court, json=reason)  # no language asked for: Chinese
    assert zh.status_code == 200 and verify(zh.data).edition == "full"
    assert "法律程序记录" in pdf_text(zh.data)
    en = client.post(url, headers={**court, "Accept-Language": "en-GB,en;q=0.9"}, json=reason)
    assert "Legal history" in pdf_text(en.data) and "法律程序记录" not in pdf_text(en.data)
    red = client.post(url, headers=court, json={**reason, "edition": "redacted"})
    assert red.status_code == 200 and verify(red.data).edition == "redacted" and verify(red.data).ok
    assert "redacted" in red.headers["Content-Disposition"]
    assert verify(client.post(url + "?edition=redacted", headers=court, json=reason).data).edition == "redacted"
    bad = client.post(url, headers=court, json={**reason, "edition": "everything"})
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "edition"
    with engine.connect() as conn:
        editions = [d.get("edition") for (d,) in conn.execute(
            sa.select(t.access_audit.c.details).where(t.access_audit.c.action == "export",
                                                      t.access_audit.c.outcome == "ok").order_by(t.access_audit.c.id))]
    assert editions == ["full", "full", "redacted", "redacted"]


# her places in free text: the redacted edition withholds it (review item 9)
FREE_TEXT = {"home_zone_name": "Larkspur", "work_zone_name": "Quillfeather", "import_path": "Marigold",
             "import_reason": "Thistlewood", "alert_note": "Ospreyhill", "extension_reason": "Bramblegate",
             "cancel_reason": "Fenwickyard", "note_in_chinese": "梧桐巷"}


def test_the_redacted_edition_withholds_free_text_that_may_name_her_places(engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import copy

    from geofence import FrameCache
    from service.domain.directory import Directory
    from service.domain.monitoring import Monitor
    from service.importing import import_agencies, import_orders
    from service.pipeline import Pipeline
    from service.state import rebuild
    from tests.integration.test_pipeline import Ids

    w = FREE_TEXT
    body = builders.order(min_distance_m=500, pre_alert_m=300)
    body["zones"] = copy.deepcopy(body["zones"])
    names = {"home": f"{w['home_zone_name']} Road 3, her flat",
             "work": f"{w['work_zone_name']} Tower"}
    for f in body["zones"]["features"]:
        f["properties"]["name"] = names[f["properties"]["zone_id"]]
    import_agencies(engine, builders.AGENCIES, lambda: T0)
    path = str(tmp_path / f"{w['import_path']}-court-files" / "order.json")
    import_orders(engine, [(body, path)], lambda: T0 - timedelta(hours=2))
    import_orders(engine, [({**body, "exit_margin_m": 30}, path)], lambda: T0 - timedelta(hours=1),
                  reason=f"she moved near {w['import_reason']} market")
    monitor = Monitor(FrameCache(), Directory([]), Ids())
    with engine.begin() as conn:
        rebuild(monitor, conn)
    OrderAdmin(engine, lambda: T0).record_service(ORDER_ID, "respondent", T0 - timedelta(hours=1), "personal delivery",
                                                  COURT)
    Pipeline(engine, monitor, lambda: T0 + timedelta(hours=1), 256 * 1024).process(approach())
    resolve_with_note(engine, f"found her at {w['alert_note']} bus stop, {w['note_in_chinese']}")
    extend_with_reason(engine, f"he waited at {w['extension_reason']} school")
    OrderAdmin(engine, lambda: T0 + timedelta(hours=4)).cancel(
        ORDER_ID, COURT, f"she moved to {w['cancel_reason']} estate")

    def texts(data: bytes) -> dict[str, bytes]:
        return {**entries(data), "report.pdf (text)": pdf_text(data).encode()}

    full = b"".join(texts(export(engine, ORDER_ID, KEY, lambda: T0, "x", edition="full")).values())
    for what, word in w.items():  # the search can find them: the full edition holds every one
        assert word.encode() in full, what
    for locale in ("zh-CN", "en"):
        data = export(engine, ORDER_ID, KEY, lambda: T0, "x", locale, edition="redacted")
        assert verify(data).ok and verify(data).edition == "redacted", verify(data).problems
        for name, content in texts(data).items():
            for what, word in w.items():
                assert word.encode() not in content, (locale, name, what)
    red = entries(export(engine, ORDER_ID, KEY, lambda: T0, "x", edition="redacted"))
    records = [orjson.loads(line) for line in red["records.jsonl"].splitlines()]
    versions = [r for r in records if r["record"] == "order_version"]
    assert versions[-1]["body"]["zones"] == [{"zone_id": "home", "kind": "home"},
                                                          {"zone_id": "work", "kind": "work"}]
    assert {v["source"] for v in versions} == {"[withheld: free text]"}
    events = {r["event"]: r for r in records if r["record"] == "order_event"}
    assert events["cancelled"]["reason"] == events["extended"]["reason"] == "[withheld: free text]"
    assert events["modified"]["actor_id"] == "import:[withheld: free text]"
    notes = [r["note"] for r in records if r["record"] == "alert_event" and r.get("note")]
    assert notes == ["[withheld: free text]"]
    assert all(set(r.get("zone") or {}) <= {"zone_id", "kind"} for r in records if r["record"] == "alert_event")
