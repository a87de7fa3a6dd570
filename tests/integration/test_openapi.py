"""The OpenAPI document matches what the server does: valid OpenAPI 3, the same routes as the app,
and schemathesis finds no server error, undocumented status, wrong content type or response body
(every object in it forbids extra fields) on pipeline-made data, for several kinds of caller."""

from __future__ import annotations

import re

import hypothesis
import pytest
import schemathesis
from openapi_spec_validator import validate
from schemathesis.checks import CHECKS
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service.web.openapi import DOCUMENT
from tests.integration.test_access_matrix import world  # noqa: F401 - the fixture

NOT_A_SERVER_ERROR = next(c for c in CHECKS.get_all() if c.__name__ == "not_a_server_error")


def test_the_document_is_valid_openapi_3() -> None:
    validate(DOCUMENT)


def test_the_document_names_exactly_the_app_s_routes(world) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    client, _, _ = world
    routes, pages = set(), set()
    for rule in client.application.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        methods = {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
        if rule.endpoint.startswith("pages."):  # the web app's HTML pages: tests/integration/test_pages.py
            pages |= methods
        else:
            routes |= methods
    documented = {(path, method) for path, item in DOCUMENT["paths"].items() for method in item}
    assert routes == documented
    assert pages == {("/", "get"), ("/signin", "get"), ("/signin", "post"), ("/signout", "post"), ("/language", "post"),
                     ("/board", "get"), ("/orders", "get"), ("/orders/{order_id}", "get"), ("/orders/{order_id}", "post"),
                     ("/accountability", "get"), ("/static/leaflet/{name}", "get"), ("/static/app/{filename}", "get")}


@pytest.mark.parametrize("who", ["court", "police", "victim", "anonymous"])
def test_the_server_does_what_the_document_says(world, who) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """Every operation, signed in as the court, the police, the victim's phone, or nobody, with generated
    parameters and bodies."""
    client, headers, _ = world
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", client.application)
    checks = [NOT_A_SERVER_ERROR, status_code_conformance, content_type_conformance, response_schema_conformance]
    tried = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path == "/api/v1/alerts/stream":  # never ends by design: tests/e2e/test_live.py covers it
            continue

        @hypothesis.given(case=operation.as_strategy())
        @hypothesis.settings(max_examples=15, deadline=None, derandomize=True, database=None,
                             suppress_health_check=list(hypothesis.HealthCheck))
        def run(case) -> None:  # type: ignore[no-untyped-def]
            case.call_and_validate(headers=headers[who], checks=checks)

        run()
        tried += 1
    # every operation but the document itself (schemathesis leaves out the schema's own URL) and the stream
    assert tried == sum(len(item) for item in DOCUMENT["paths"].values()) - 2
