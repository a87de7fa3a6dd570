"""Times the API reads (issue 12, finding 4): ``?from=``/``?to=`` and the extend and service bodies answer
400 ``validation`` naming the field for anything that is not a time within the years 1900-2199, never
500, on a real SQLite database through Flask's test client."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.test_web import client  # noqa: F401 - the fixture

ORDER = "PSO-2026-0001"
NASTY = ["0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
         "0000-01-01T00:00:00Z", "2200-01-01T00:00:00Z", "1899-12-31T23:59:59Z", "2026-11-21T08:00:00Z\n",
         "2026-11-21T08:00:00Z\x00", "2026-11-21T24:00:00Z", "2026-11-21T08:00:00+24:00", "", "x" * 10_000,
         "\ud7ff", "2026-11-21T08:00:00." + "9" * 1000 + "Z"]
QUERIES = [f"/api/v1/orders/{ORDER}/timeline", "/api/v1/accountability"]
WHO = {QUERIES[0]: "court", QUERIES[1]: "supervisor"}


def is_validation(response, field: str) -> bool:  # type: ignore[no-untyped-def]
    body = response.get_json() or {}
    return response.status_code == 400 and body.get("error", {}).get("code") == "validation" \
        and body["error"].get("field") == field


@pytest.mark.parametrize("path", QUERIES)
@pytest.mark.parametrize("name", ["from", "to"])
def test_a_query_time_that_is_no_time_in_the_window_is_a_400_naming_it(client, path, name) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    c, _ = client
    messages = set()
    for value in NASTY:
        r = c.as_(WHO[path]).get(f"{path}?{name}={quote(value)}")
        assert is_validation(r, name), (value[:40], r.status_code, r.get_json())
        messages.add(r.get_json()["error"]["message"])
    assert len(messages) == 1  # the same text whatever the value: it quotes none


@pytest.mark.parametrize("path", QUERIES)
def test_query_times_at_the_window_s_edges_are_read(client, path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    c, _ = client
    first = c.as_(WHO[path]).get(f"{path}?from=1900-01-01T00:00:00Z&to={quote('1900-01-02T00:00:00+00:00')}")
    last = c.as_(WHO[path]).get(f"{path}?from=2199-12-30T00:00:00Z&to=2199-12-31T23:59:59.999Z")
    assert (first.status_code, last.status_code) == (200, 200)


@settings(max_examples=150, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.one_of(st.text(max_size=60), st.from_regex(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})", fullmatch=True)))
def test_any_query_time_is_read_or_a_400_never_a_500(client, value) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    c, _ = client
    for name in ("from", "to"):
        r = c.as_("court").get(f"{QUERIES[0]}?{name}={quote(value)}")
        assert r.status_code in (200, 400), (name, r.status_code)
        if r.status_code == 400:
            assert r.get_json()["error"]["field"] in (name, "from")  # "from": the window is empty or too long


@pytest.mark.parametrize("value", [*NASTY, None, 5, 1.5, [], {}, True])
def test_an_extension_to_no_time_in_the_window_is_a_400_naming_expires_at(client, value) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    c, _ = client
    r = c.as_("court").post(f"/api/v1/orders/{ORDER}/extend", {"expires_at": value, "reason": "risk assessment"})
    assert is_validation(r, "expires_at"), (r.status_code, r.get_json())
    assert c.as_("court").get(f"/api/v1/orders/{ORDER}").get_json()["version"] == 1  # nothing changed


def test_an_extension_missing_its_time_is_a_400_and_a_good_one_still_works(client) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    c, _ = client
    assert is_validation(c.as_("court").post(f"/api/v1/orders/{ORDER}/extend", {"reason": "x"}), "expires_at")
    done = c.as_("court").post(f"/api/v1/orders/{ORDER}/extend", {"expires_at": "2027-11-20T17:00:00+08:00",
                                                                   "reason": "risk assessment"})
    assert done.status_code == 200 and done.get_json()["expires_at"].startswith("2027-11-20T09:00:00")


@pytest.mark.parametrize("value", [*NASTY, None, 5, [], {}])
def test_service_at_no_time_in_the_window_is_a_400_naming_served_at(client, value) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    c, _ = client
    r = c.as_("police").post(f"/api/v1/orders/{ORDER}/service", {"party": "respondent", "served_at": value})
    assert is_validation(r, "served_at"), (r.status_code, r.get_json())
    assert c.as_("court").get(f"/api/v1/orders/{ORDER}/service").get_json()["served"] == {}
