"""The order page in a real browser (Playwright, Debian's Chromium) for a supervisor, on a world where his
three approaches raised the moving zone's alerts (issue 12, F4; the world of
``tests/integration/test_her_moments.py``, served by the app on loopback): the moving zone's rows say their
time is rounded, carry no distance; the page says where his positions are withheld; the map draws his
track in pieces, no line across a withheld window; the script runs without an error."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

import pyotp
import pytest
from werkzeug.serving import make_server

from tests.e2e.test_browser import chromium  # noqa: F401 - the browser fixture
from tests.integration.test_her_moments import (
    CENTER,
    END,
    ORDER,
    PASSWORD,
    WINDOW,
    build,
)


@pytest.fixture
def site(tmp_path) -> Iterator[tuple[str, str]]:  # type: ignore[no-untyped-def]
    w, engine = build(f"sqlite:///{tmp_path / 'moments.sqlite'}", CENTER)
    app = w.clients["west-sup"].application
    secret = app.extensions["stayaway"].auth.create_account("sup-chen", PASSWORD, "supervisor", "police-west").totp_secret
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", secret
    server.shutdown()
    engine.dispose()


def test_a_supervisor_s_order_page_shows_the_moving_zone_coarse_and_his_track_broken_where_withheld(chromium, site) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    base, secret = site
    context = chromium.new_context(viewport={"width": 1360, "height": 860}, locale="en-GB", timezone_id="UTC")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{base}/board")
    page.fill("#account", "sup-chen")
    page.fill("#password", PASSWORD)
    page.fill("#code", pyotp.TOTP(secret).at(END))
    page.click("#sign-in")
    page.wait_for_url(f"{base}/board")
    page.goto(f"{base}/orders/{ORDER}?{WINDOW}")
    page.wait_for_selector("#map path.track.respondent")
    assert page.locator("#withheld").is_visible()
    assert len(page.locator("#withheld .window").all()) == 3
    rows = page.locator("#timeline tr.coarse")
    assert rows.count() > 10
    assert all("rounded down to 30 minutes" in r.inner_text() for r in rows.all())
    assert not re.search(r"\b\d+ m\b", page.locator("#timeline").inner_text())  # no distance beside anything
    track = page.locator("#map path.track.respondent").get_attribute("d")
    # his fixes shown lie between the three windows (the first began before his first fix, the last runs on
    # into his latest half hour): two pieces, no line drawn across the window between them
    assert len(re.findall(r"M", track)) == 2
    assert page.locator("#map path.alert-point").count() == 0  # no fix of his at the moving zone's alerts
    assert errors == []
    context.close()
