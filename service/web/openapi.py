"""The API's OpenAPI 3 document, served at ``GET /api/v1/openapi.json``.

Written by hand next to the handlers it describes; ``tests/integration/test_openapi.py`` checks
that it is a valid OpenAPI 3.0 document, that it names exactly the routes the app has, and runs
schemathesis against the app with it (server errors, undocumented status codes, content types,
response bodies: every object is ``additionalProperties: false``, so an extra field fails).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

bp = Blueprint("openapi", __name__)

TS = {"type": "string", "format": "date-time"}
TS_NULL = {"type": "string", "format": "date-time", "nullable": True}
STR = {"type": "string"}
STR_NULL = {"type": "string", "nullable": True}
INT = {"type": "integer"}
NUM_NULL = {"type": "number", "nullable": True}


def obj(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "object", "required": sorted(required), "additionalProperties": False,
            "properties": {**required, **(optional or {})}}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def answers(ok: dict[str, Any] | None, *errors: int, ok_status: str = "200") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if ok is not None:
        out[ok_status] = {"description": "done", "content": {"application/json": {"schema": ok}}}
    for code in errors:
        out[str(code)] = {"$ref": f"#/components/responses/E{code}"}
    return out


ORDER_ID = {"name": "order_id", "in": "path", "required": True, "schema": STR}
ALERT_ID = {"name": "alert_id", "in": "path", "required": True, "schema": STR}
SIGNED_IN = (400, 401, 403, 404)

SCHEMAS: dict[str, Any] = {
    "Error": obj({"error": obj({"code": STR, "message": STR}, {"field": STR})}),
    "OrderSummary": obj({"order_id": STR, "type": STR, "court": STR, "issued_at": TS, "expires_at": TS_NULL,
                         "status": STR, "version": INT}),
    "Order": obj({"order_id": STR, "type": STR, "court": STR, "issued_at": TS, "expires_at": TS_NULL, "status": STR,
                  "version": INT},
                 {"parties": {"type": "array", "items": obj({"role": STR, "person_id": STR, "device_id": STR_NULL,
                                                             "report_interval_s": INT})},
                  "zones": {"type": "array", "items": obj({"zone_id": STR, "kind": STR, "name": STR})},
                  "min_distance_m": NUM_NULL,
                  "ended_at": TS_NULL, "panic_reaches_police_until": TS_NULL,  # her phone's view
                  "alerts": {"type": "array", "items": {"oneOf": [ref("Alert"), ref("VictimAlert")]}}}),
    # a moving zone's alert for a caller who may not see her: ``coarse`` (times rounded: her_data.BUCKET),
    # no ``event_seq`` (it counts the updates), ``next_escalation_at`` null
    "Alert": obj({"alert_id": STR, "order_id": STR, "kind": STR, "severity": STR, "status": STR, "zone_id": STR_NULL,
                  "condition": STR, "retroactive": {"type": "boolean"},
                  "recipients": {"type": "array", "items": STR}, "occurred_at": TS, "raised_at": TS,
                  "last_event_at": TS, "acknowledged_at": TS_NULL, "escalation_level": INT,
                  "next_escalation_at": TS_NULL},
                 {"event_seq": INT, "coarse": {"type": "boolean"}, "owner": STR_NULL, "dispatch_due_at": TS_NULL,
                  "on_scene_due_at": TS_NULL}),
    "AlertAfterStep": obj({"alert": obj({
        "alert_id": STR, "order_id": STR, "kind": STR, "severity": STR, "status": STR,
        "condition": STR, "acknowledged_at": TS_NULL, "acknowledged_by": STR_NULL, "dispatched_at": TS_NULL,
        "on_scene_at": TS_NULL, "resolved_at": TS_NULL, "resolved_by": STR_NULL, "outcome": STR_NULL,
        "escalation_level": INT, "next_escalation_at": TS_NULL},
        {"event_seq": INT, "coarse": {"type": "boolean"}, "owner": STR_NULL, "dispatch_due_at": TS_NULL,
         "on_scene_due_at": TS_NULL, "missed_deadlines": {"type": "array", "items": obj({"deadline": STR,
                                                                                          "agency_id": STR})}})}),
    "Notice": obj({"notice_id": STR, "kind": STR, "text": STR, "alert_id": STR_NULL},
                  {"topic": STR, "order_id": STR, "locale": STR}),
    # an alert about her, as her phone sees it (service.reads.alerts.victim_alert): never a position, a distance, recipients
    "VictimAlert": obj({"alert_id": STR, "order_id": STR, "kind": STR, "status": STR, "zone_id": STR_NULL,
                        "condition": STR, "raised_at": TS, "acknowledged_at": TS_NULL, "dispatched_at": TS_NULL,
                        "on_scene_at": TS_NULL, "resolved_at": TS_NULL, "outcome": STR_NULL,
                        "escalation_level": INT}),
    "Step": {"type": "object", "properties": {"note": STR, "unit": STR, "outcome": STR, "to_agency": STR}},
    "Reason": {"type": "object", "properties": {"reason": STR}},
    "OrderFile": {"type": "object", "description": "the order file of the contract (section 4); optional "
                                                   "``supersedes`` (a temporary order's id) and ``reason``"},
    "Version": obj({"version": INT, "recorded_at": TS, "effective_from": TS, "by": STR_NULL, "reason": STR_NULL,
                    "source": STR, "changed": {"type": "array", "items": STR},
                    "zones": {"type": "array", "items": STR_NULL}, "expires_at": STR_NULL}),
    "HistoryEntry": obj({"event": STR, "at": TS, "by": STR, "role": STR, "reason": STR_NULL,
                         "version": {"type": "integer", "nullable": True},
                         "details": {"type": "object", "nullable": True}}),
    "Point": obj({"device_id": STR, "ts": TS, "lat": {"type": "number"}, "lon": {"type": "number"},
                  "acc": {"type": "number"}, "flags": {"type": "array", "items": STR}}),
    "Timeline": obj({"order_id": STR, "period": obj({"from": TS, "to": TS}), "victim_positions": STR,
                     "withheld": {"type": "array", "items": obj({"from": TS, "to": TS})},
                     "respondent_track": {"type": "array", "items": ref("Point")},
                     "victim_track": {"type": "array", "items": ref("Point"), "nullable": True},
                     "events": {"type": "array", "items": {
                         "type": "object", "additionalProperties": False,
                         "required": ["at", "alert_id", "kind", "severity", "event", "zone_id", "by", "source",
                                      "recipients"],
                         "properties": {"at": TS, "alert_id": STR, "event_seq": INT, "kind": STR, "severity": STR,
                                        "event": STR, "status": STR, "zone_id": STR_NULL, "by": STR, "source": STR,
                                        "recipients": {"type": "array", "items": STR},
                                        "distance_m": {"type": "number"}, "condition": STR, "confidence": STR,
                                        "retroactive": {"type": "boolean"}, "escalation": {"type": "object"},
                                        "action": STR, "unit": STR, "outcome": STR, "referred_to": STR,
                                        "device_id": STR, "ended_at": STR, "silent": {"type": "boolean"},
                                        "flips": INT, "respondent": {"type": "object"}, "zone": {"type": "object"},
                                        "victim": {"type": "object"}, "note": STR,
                                        "owner": STR, "actor_agency": STR, "dispatch_due_at": STR,
                                        "on_scene_due_at": STR, "coarse": {"type": "boolean"}}}}}),
    "Figures": {"type": "object", "required": ["agency_id", "kind", "raised", "owned", "unacknowledged", "escalated",
                                               "acknowledged_never_dispatched", "missed_deadlines"],
                "properties": {"agency_id": STR, "kind": STR, "raised": INT, "owned": INT, "unacknowledged": INT,
                               "escalated": INT, "acknowledged_never_dispatched": INT,
                               "missed_deadlines": obj({"acknowledge": INT, "dispatch": INT, "on_scene": INT})},
                "additionalProperties": obj({"n": INT, "p50_s": NUM_NULL, "p90_s": NUM_NULL})},
}

RESPONSES = {f"E{code}": {"description": text, "content": {"application/json": {"schema": ref("Error")}}}
             for code, text in ((400, "validation: the body or a parameter is wrong (``field`` names it)"),
                                (401, "not signed in"), (403, "this caller may never do this"),
                                (404, "unknown, or outside the caller's scope"),
                                (409, ("not allowed now (a stable code: the lifecycle's or the law's; "
                                       "``device_unavailable``: a device or OwnTracks topic this order may not name, "
                                       "one answer whatever the reason; ``order_id_unavailable``: a new order's id "
                                       "another order has or had, or a reserved one, one answer whatever the "
                                       "reason)")),
                                (422, ("no police agency answers for the order (``no_police_agency``: name "
                                       "``police_agency_id``, or import the jurisdictions holding its zones), or "
                                       "it names one that is not a police agency (``unknown_police_agency``)")),
                                (429, "locked after 5 failed sign-ins in 15 minutes"),
                                (503, "the running service is needed"))}

ENDED = obj({"order_id": STR, "status": STR, "ended_at": TS_NULL})
DECIDED = {"decided_at": {**TS, "description": "the court's decision date (default: now), from which the step takes "
                                               "effect; 409 bad_decision_date before the order's issue, once it had "
                                               "lapsed, or in the future"}}

PATHS: dict[str, Any] = {
    "/api/v1/auth/sign-in": {"post": {
        "summary": "sign in with name, password and TOTP code", "security": [],
        "requestBody": body(obj({"account": STR, "password": STR, "code": STR})),
        "responses": answers(obj({"token": STR, "idle_timeout_s": INT, "max_age_s": INT}), 400, 401, 429, 503)}},
    "/api/v1/auth/sign-out": {"post": {"summary": "end this session", "responses": answers(
        obj({"signed_out": {"type": "boolean"}}), 401)}},
    "/api/v1/auth/me": {"get": {"summary": "who is signed in", "responses": answers(
        obj({"subject": STR, "role": STR, "agency_id": STR_NULL, "via": STR}), 401)}},
    "/api/v1/orders": {
        "get": {"summary": "the orders the caller may see", "responses": answers(
            obj({"orders": {"type": "array", "items": ref("OrderSummary")}}), 401)},
        "post": {"summary": "issue an order (its court)", "requestBody": body(ref("OrderFile")),
                 "responses": answers(obj({"order_id": STR, "version": INT}, {"warnings": {
                     "type": "array", "items": obj({"code": STR, "message": STR, "field": STR_NULL})}}),
                                      400, 401, 403, 404, 409, 422, 503, ok_status="201")}},
    "/api/v1/orders/{order_id}": {"get": {"summary": "one order", "parameters": [ORDER_ID],
                                          "responses": answers(ref("Order"), 401, 404)}},
    "/api/v1/orders/{order_id}/modify": {"post": {
        "summary": "a new version (its court)", "parameters": [ORDER_ID],
        "requestBody": body({"type": "object", "properties": {"order": ref("OrderFile"), "reason": STR,
                                                              **DECIDED}}),
        "responses": answers(obj({"order_id": STR, "version": INT, "changed": {"type": "array", "items": STR},
                                  "effective_from": TS}), *SIGNED_IN, 409, 422, 503)}},
    "/api/v1/orders/{order_id}/replace-device": {"post": {
        "summary": "a party's new device, without a gap (its court)", "parameters": [ORDER_ID],
        "requestBody": body({"type": "object", "properties": {"role": STR, "device_id": STR, "reason": STR}}),
        "responses": answers(obj({"order_id": STR, "version": INT, "changed": {"type": "array", "items": STR},
                                  "effective_from": TS}), *SIGNED_IN, 409, 422, 503)}},
    "/api/v1/orders/{order_id}/release-device": {"post": {
        "summary": "the order gives up a party's device (with its OwnTracks topic) or its OwnTracks topic, so "
                   "another order may name it; it goes on without it, its court is told (its court, or an admin; "
                   "audited)", "parameters": [ORDER_ID],
        "requestBody": body({"type": "object", "properties": {
            "role": {"type": "string", "enum": ["respondent", "victim"]},
            "what": {"type": "string", "enum": ["device", "owntracks_topic"]}, "reason": STR}}),
        "responses": answers(obj({"order_id": STR, "version": INT, "role": STR, "what": STR}), *SIGNED_IN, 409,
                             503)}},
    "/api/v1/orders/{order_id}/extend": {"post": {
        "summary": "extend before the order lapses, as the court's legal profile allows (prc-advl-2016: by at "
                   "most 6 months each time; expert-draft: once, by at most a year) (its court)",
        "parameters": [ORDER_ID],
        "requestBody": body({"type": "object", "properties": {"expires_at": STR, "reason": STR, **DECIDED}}),
        "responses": answers(obj({"order_id": STR, "expires_at": TS_NULL, "extensions": INT}), *SIGNED_IN, 409, 503)}},
    "/api/v1/orders/{order_id}/cancel": {"post": {
        "summary": "cancel from the court's decision date (its court)", "parameters": [ORDER_ID],
        "requestBody": body({"type": "object", "properties": {"reason": STR, **DECIDED}}),
        "responses": answers(ENDED, *SIGNED_IN, 409, 503)}},
    "/api/v1/orders/{order_id}/reconsideration": {"post": {
        "summary": "an application for reconsideration on record, within the court's legal profile's window "
                   "(409 reconsideration_window), at its court (409 reconsideration_court), once under "
                   "prc-advl-2016 (409 reconsideration_once); it suspends nothing (its court)",
        "parameters": [ORDER_ID],
        "requestBody": body({"type": "object", "properties": {
            "reason": STR,
            "filed_at": {**TS, "description": "when the application was filed (default: now)"},
            "court": {**STR, "description": "the reconsidering court agency: prc-advl-2016, the issuing court "
                                            "(the default); expert-draft, the next higher court (required)"}}}),
        "responses": answers(obj({"order_id": STR, "status": STR, "monitored": {"type": "boolean"}, "filed_at": TS,
                                  "court": STR, "window_ends": TS_NULL}), *SIGNED_IN, 409, 503)}},
    "/api/v1/orders/{order_id}/reconsideration/decision": {"post": {
        "summary": "the outcome of the pending application for reconsideration (409 no_reconsideration): upheld, "
                   "modified (the modification follows through .../modify) or cancelled (the order ends at the "
                   "decision date) (its court)", "parameters": [ORDER_ID],
        "requestBody": body({"type": "object", "properties": {
            "outcome": {"type": "string", "enum": ["upheld", "modified", "cancelled"]}, "reason": STR, **DECIDED}}),
        "responses": answers(obj({"order_id": STR, "outcome": STR, "status": STR},
                                 {"decided_at": TS, "ended_at": TS_NULL}), *SIGNED_IN, 409, 503)}},
    "/api/v1/orders/{order_id}/end": {"post": {
        "summary": "a temporary order's application rejected or withdrawn (its court)", "parameters": [ORDER_ID],
        "requestBody": body({"type": "object", "properties": {"outcome": STR, "reason": STR, **DECIDED}}),
        "responses": answers(ENDED, *SIGNED_IN, 409, 503)}},
    "/api/v1/orders/{order_id}/service": {
        "post": {"summary": "record service to a party (its court, police in scope)", "parameters": [ORDER_ID],
                 "requestBody": body({"type": "object", "properties": {"party": STR, "served_at": STR, "method": STR}}),
                 "responses": answers(obj({"order_id": STR, "served": {"type": "array", "items": STR},
                                           "unserved": {"type": "array", "items": STR}}), *SIGNED_IN, 409, 503)},
        "get": {"summary": "who was served when", "parameters": [ORDER_ID], "responses": answers(
            obj({"order_id": STR, "served": {"type": "object", "additionalProperties": STR},
                 "unserved": {"type": "array", "items": STR}}), 401, 403, 404)}},
    "/api/v1/orders/{order_id}/versions": {"get": {"summary": "every version", "parameters": [ORDER_ID],
                                                   "responses": answers(obj({"order_id": STR, "versions": {
                                                       "type": "array", "items": ref("Version")}}), 401, 403, 404)}},
    "/api/v1/orders/{order_id}/history": {"get": {"summary": "the legal history", "parameters": [ORDER_ID],
                                                  "responses": answers(obj({"order_id": STR, "history": {
                                                      "type": "array", "items": ref("HistoryEntry")}}), 401, 403, 404)}},
    "/api/v1/orders/{order_id}/timeline": {"get": {
        "summary": "the breach timeline: his track, every alert event with who and when; her track, and the "
                   "events' distance_m, confidence and victim, only by need to know; without it the moving "
                   "zone's events are coarse and his fixes near them withheld (withheld)",
        "parameters": [ORDER_ID, *({"name": n, "in": "query", "required": False, "schema": STR} for n in ("from", "to"))],
        "responses": answers(ref("Timeline"), 400, 401, 403, 404)}},
    "/api/v1/orders/{order_id}/evidence": {"post": {
        "summary": "the order's signed evidence bundle (its court, with a stated reason); the report in the "
                   "caller's language (the account's, else Accept-Language, else Chinese)",
        "parameters": [ORDER_ID, {"name": "edition", "in": "query", "required": False,
                                  "schema": {"type": "string", "enum": ["full", "redacted"]}}],
        "requestBody": body({"type": "object", "properties": {
            "reason": STR, "edition": {"type": "string", "enum": ["full", "redacted"],
                                       "description": "redacted: for the respondent's side, without her data"}}}),
        "responses": {"200": {"description": "a zip (stayaway evidence verify checks it and names its edition)",
                              "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}},
                      **answers(None, 400, 401, 403, 404, 503)}}},
    "/api/v1/agencies": {
        "get": {"summary": "agencies (officers, admins)", "responses": answers(obj({"agencies": {
            "type": "array", "items": obj({"agency_id": STR, "name": STR, "kind": STR})}}), 401, 403)},
        "post": {"summary": "load the agencies file (admins)", "requestBody": body({"type": "object"}),
                 "responses": answers(obj({"imported": INT}), 400, 401, 403, 503)}},
    "/api/v1/orders/{order_id}/victim-location": {"post": {
        "summary": "the victim's last position: need to know, or a recorded reason", "parameters": [ORDER_ID],
        "requestBody": {"required": False, "content": {"application/json": {"schema": ref("Reason")}}},
        "responses": answers(obj({"order_id": STR, "basis": STR, "victim": {
            "type": "object", "nullable": True, "additionalProperties": False,
            "properties": {"lat": {"type": "number"}, "lon": {"type": "number"}, "acc": {"type": "number"},
                           "ts": TS}}}), 401, 403, 404)}},
    "/api/v1/alerts": {"get": {
        "summary": "alerts the caller may see",
        "parameters": [{"name": "status", "in": "query", "required": False, "schema": {
            "type": "string", "enum": ["open", "acknowledged", "dispatched", "on_scene", "resolved", "all"]}},
                       {"name": "limit", "in": "query", "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}],
        "responses": answers(obj({"alerts": {"type": "array", "items": {"oneOf": [ref("Alert"), ref("VictimAlert")]}}}),
                             400, 401)}},
    "/api/v1/alerts/{alert_id}/{action}": {"post": {
        "summary": "a step on an alert (an agency that received it)",
        "parameters": [ALERT_ID, {"name": "action", "in": "path", "required": True, "schema": {
            "type": "string", "enum": ["acknowledge", "dispatch", "on_scene", "resolve", "refer"]}}],
        "requestBody": body(ref("Step")),
        "responses": answers(ref("AlertAfterStep"), *SIGNED_IN, 409, 503)}},
    "/api/v1/alerts/stream": {"get": {
        "summary": "server-sent events: the caller's agency's alert messages as they are published (officers; a "
                   "supervisor's without victim, distance_m, eta_s, confidence)",
        "responses": {"200": {"description": "text/event-stream: events alert, reset, signed_out; keep-alive comments",
                              "content": {"text/event-stream": {"schema": STR}}},
                      **answers(None, 401, 403, 503)}}},
    "/api/v1/notices": {"get": {"summary": "the victim's notices (her phone signed in)", "responses": answers(
        obj({"notices": {"type": "array", "items": ref("Notice")}}), 401, 403)}},
    "/api/v1/accountability": {"get": {
        "summary": "response figures (supervisors: their agency; admins: all)",
        "parameters": [{"name": n, "in": "query", "required": False, "schema": STR} for n in ("from", "to")],
        "responses": answers(obj({"period": obj({"from": TS, "to": TS}),
                                  "figures": {"type": "array", "items": ref("Figures")}}), 400, 401, 403)}},
    "/metrics": {"get": {"summary": "Prometheus text (supervisors, admins)", "responses": {
        "200": {"description": "metrics", "content": {"text/plain": {"schema": STR}}},
        "401": {"$ref": "#/components/responses/E401"}, "403": {"$ref": "#/components/responses/E403"}}}},
    "/healthz": {"get": {"summary": "ready (200) or not (503), with counters", "security": [], "responses": {
        "200": {"description": "ready", "content": {"application/json": {"schema": {"type": "object"}}}},
        "503": {"description": "not subscribed yet", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
    "/api/v1/openapi.json": {"get": {"summary": "this document", "security": [], "responses": {
        "200": {"description": "OpenAPI 3", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "stayaway", "version": "1",
             "description": "Protection-order enforcement: orders, alerts, accountability. Signed in: Bearer "
                            "session or API token; a victim's phone with Basic (device id, broker password); the web "
                            "app's pages with their session cookie, and X-CSRF-Token on every change."},
    "servers": [{"url": "/"}],
    "security": [{"bearer": []}, {"device": []}, {"cookie": []}],
    "paths": PATHS,
    "components": {"schemas": SCHEMAS, "responses": RESPONSES,
                   "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                                       "device": {"type": "http", "scheme": "basic"},
                                       "cookie": {"type": "apiKey", "in": "cookie", "name": "stayaway_session",
                                                  "description": "the web app's session (sign in at /signin); "
                                                                 "changes also need the X-CSRF-Token header "
                                                                 "the page holds"}}},
}


@bp.get("/api/v1/openapi.json")
def document():  # type: ignore[no-untyped-def]
    return jsonify(DOCUMENT)
