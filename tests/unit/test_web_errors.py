"""The one mapping of stayaway's error tree to HTTP answers (service.web.errors.install)."""

from __future__ import annotations

import pytest
from flask import Flask

from alerts.lifecycle import LifecycleError
from service.domain.law import DeviceUnavailable, LegalError, OrderIdUnavailable
from service.domain.responsibility import NoPoliceAgency
from service.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    StorageUnavailable,
)
from service.web.errors import FieldError, install

CASES = [
    (InvalidInput("zones must be a FeatureCollection", "zones"), 400,
     {"code": "validation", "message": "zones must be a FeatureCollection", "field": "zones"}),
    (FieldError("limit must be an integer from 1 to 1000", "limit"), 400,
     {"code": "validation", "message": "limit must be an integer from 1 to 1000", "field": "limit"}),
    (Forbidden("admins only"), 403, {"code": "forbidden", "message": "admins only"}),
    (Forbidden("no open alert needs her", "need_to_know"), 403, {"code": "need_to_know", "message": "no open alert needs her"}),
    (NotFound("no order o-1"), 404, {"code": "not_found", "message": "no order o-1"}),
    (Conflict("the order changed meanwhile", "stale"), 409, {"code": "stale", "message": "the order changed meanwhile"}),
    (LegalError("already_extended", "extended once already", "expires_at"), 409,
     {"code": "already_extended", "message": "extended once already", "field": "expires_at"}),
    (LifecycleError("note_required", "a note is required"), 409, {"code": "note_required", "message": "a note is required"}),
    (StorageUnavailable("the database is unreachable"), 503, {"code": "unavailable", "message": "the database is unreachable"}),
]


@pytest.fixture
def client():  # type: ignore[no-untyped-def]
    app = Flask(__name__)
    install(app)
    raised: list[BaseException] = []

    @app.get("/raise")
    def boom():  # type: ignore[no-untyped-def]
        raise raised[0]

    c = app.test_client()
    c.raised = raised  # type: ignore[attr-defined]
    return c


@pytest.mark.parametrize(("exc", "status", "body"), CASES, ids=[type(c[0]).__name__ + str(i) for i, c in enumerate(CASES)])
def test_each_error_of_the_tree_has_its_status_code_and_body(client, exc, status, body):  # type: ignore[no-untyped-def]
    client.raised[:] = [exc]
    response = client.get("/raise")
    assert response.status_code == status
    assert response.get_json() == {"error": body}


def test_errors_that_carry_their_own_code_keep_it(client):  # type: ignore[no-untyped-def]
    for exc, status, code in [(DeviceUnavailable("respondent.device_id"), 409, "device_unavailable"),
                              (NoPoliceAgency("no police agency answers for this order", "police_agency_id"), 422,
                               "no_police_agency"),
                              (OrderIdUnavailable(), 409, "order_id_unavailable")]:
        client.raised[:] = [exc]
        response = client.get("/raise")
        assert response.status_code == status
        assert response.get_json()["error"]["code"] == code
        assert response.get_json()["error"]["field"] == exc.field


def test_flask_s_own_http_errors_keep_the_same_body(client):  # type: ignore[no-untyped-def]
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
