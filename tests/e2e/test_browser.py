"""The officers' web app in a real browser: Playwright driving Debian's Chromium (headless, no browser
download) against a running ``stayaway serve`` fed by simulated devices over the real broker.

A police officer signs in with her password and authenticator code, sees a breach arrive on the board
without reloading it, acknowledges it, and reads it on the order's timeline and map; the court's officer
exports the evidence bundle with the download button, and it verifies; the supervisor reads the
accountability dashboard. With ``STAYAWAY_SCREENSHOTS=docs/screenshots`` the screenshots are kept there.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest

from service.evidence.bundle import verify
from simulators.walk import offset
from tests.conftest import skip_or_fail
from tests.support import builders

PASSWORD = "a long enough password"
XSS_NAME = "Home <img src=x onerror=\"window.__xss=1\">"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def chromium_path() -> str | None:
    found = os.environ.get("STAYAWAY_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    return found if found and os.access(found, os.X_OK) else None


@pytest.fixture(scope="module")
def chromium() -> Iterator:  # type: ignore[type-arg]
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("playwright is not installed (pip install -e '.[test]')")
    path = chromium_path()
    if path is None:
        skip_or_fail("no Chromium: apt-get install chromium (or set STAYAWAY_CHROMIUM)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    kept = os.environ.get("STAYAWAY_SCREENSHOTS")
    out = Path(kept) if kept else tmp_path / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    return out


def sign_in(page, base: str, account: str, secret: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/board")
    assert "/signin" in page.url  # not signed in: the sign-in page first
    page.fill("#account", account)
    page.fill("#password", PASSWORD)
    page.fill("#code", pyotp.TOTP(secret).now())
    page.click("#sign-in")
    page.wait_for_url(f"{base}/board")


def test_an_officer_sees_a_breach_live_acknowledges_it_and_the_court_exports_verified_evidence(  # type: ignore[no-untyped-def]
        chromium, devices, loaded, sqlite_url, shots, tmp_path) -> None:
    serve = loaded(sqlite_url)
    secrets = {name: serve.add_account(name, role, agency, PASSWORD) for name, role, agency in (
        ("officer-li", "police", "police-west"), ("judge-wang", "court", "court-xinjin"),
        ("supervisor-chen", "supervisor", "police-west"))}
    court_token = serve.add_token("court-desk", "court", "court-xinjin")
    serve.start()
    base = f"http://127.0.0.1:{serve.port}"

    # -- the police officer: the live board, in Chinese (no language chosen yet) --------------------------------
    officer = chromium.new_context(viewport={"width": 1360, "height": 860}, locale="zh-CN",
                                   timezone_id="Asia/Shanghai")
    page = officer.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(page, base, "officer-li", secrets["officer-li"])
    page.wait_for_selector("#live[data-state='live']", timeout=15000)
    assert page.locator("#alerts tbody tr").count() == 0
    page.evaluate("window.__not_reloaded = true")

    tracker, phone = devices()
    now = datetime.now(UTC)
    phone.location(*offset(*builders.HOME, -30, 20), acc=8.0, ts=now - timedelta(seconds=20))
    walk = [900, 600, 350, 200, 120]
    for i, north in enumerate(walk):
        tracker.location(*offset(*builders.HOME, north, 0), acc=5.0, ts=now - timedelta(seconds=10 - 2 * i))
    page.wait_for_selector("#alerts tbody tr[data-status='open']", timeout=20000)
    assert page.evaluate("window.__not_reloaded") is True  # it came over the live stream, not a reload
    alert_id = page.locator("#alerts tbody tr").first.get_attribute("data-alert")
    row = page.locator(f"tr[data-alert='{alert_id}']")  # a locator: found again whenever the board redraws
    assert "进入禁止区域" in row.inner_text()  # zone breach, in Chinese
    assert row.locator("button[data-action='acknowledge']").count() == 1
    page.screenshot(path=str(shots / "board-zh.png"))

    row.locator("button[data-action='acknowledge']").click()
    page.wait_for_selector(f"tr[data-alert='{alert_id}'][data-status='acknowledged']", timeout=15000)
    _, body = serve.get("/api/v1/alerts?status=all", serve.tokens["west-dispatch"])
    [acked] = [a for a in body["alerts"] if a["alert_id"] == alert_id]
    assert acked["status"] == "acknowledged" and acked["acknowledged_at"]

    # a unit goes, then she closes it with what happened (the dialogs of the board)
    page.click(f"tr[data-alert='{alert_id}'] button[data-action='dispatch']")
    page.fill("#dispatch-unit", "Xinjin West patrol 3")
    page.click("#dispatch-ok")
    page.wait_for_selector(f"tr[data-alert='{alert_id}'][data-status='dispatched']", timeout=15000)
    page.click(f"tr[data-alert='{alert_id}'] button[data-action='resolve']")
    page.select_option("#resolve-outcome", "respondent_warned")
    page.fill("#resolve-note", "found him at the gate, warned and escorted away")
    page.click("#resolve-ok")
    page.wait_for_selector(f"tr[data-alert='{alert_id}']", state="detached", timeout=15000)
    assert page.locator("#empty").is_visible()
    _, body = serve.get("/api/v1/alerts?status=all", serve.tokens["west-dispatch"])
    [done] = [a for a in body["alerts"] if a["alert_id"] == alert_id]
    assert done["status"] == "resolved"

    # she switches to English: her choice, kept with her account
    page.select_option("select[name='locale']", "en")
    page.wait_for_selector("text=Alert board")
    assert "No unresolved alerts." in page.inner_text("main")

    # the order page: the timeline with who did what, the map, the distance chart
    page.click("nav a[href='/orders']")
    page.click(f"a[href='/orders/{builders.order()['order_id']}']")
    page.wait_for_selector("#map .leaflet-overlay-pane path")
    timeline = page.locator("#timeline").inner_text()
    assert "officer-li" in timeline and "Zone breach" in timeline
    for step in ("Acknowledged", "Dispatched", "Resolved", "Xinjin West patrol 3", "Respondent warned"):
        assert step in timeline, step
    assert page.locator("#map path.zone").count() == 0  # her places need a reason, like her track
    assert page.locator("#map path.track.respondent").count() == 1
    assert page.locator("#map path.track.victim").count() == 0  # a breach alone does not show her track
    assert page.locator("#chart path.series.his").count() == 0  # distances to her places: hidden too
    assert page.text_content("#chart-empty").startswith("Distances are hidden")  # the chart says why
    assert not re.search(r"\b\d+ m\b", timeline)  # no distance beside his fixes (issue 12, #5)
    assert page.locator("#map img.leaflet-tile").count() == 0  # no tile server: a plain background
    page.screenshot(path=str(shots / "order-en.png"), full_page=True)

    # her track only with a reason on record (break-glass): then her track and the distance between them
    page.fill("#glass-reason", "checking whether he followed her home")
    page.click("#glass-form button")
    page.wait_for_selector("#victim-shown")
    assert "checking" not in page.url  # the reason went in the POST body, never the URL
    page.wait_for_selector("#map path.victim-last")
    assert page.locator("#map path.zone").count() == 2  # home and workplace
    assert page.locator("#chart path.series.between").count() == 1
    assert page.locator("#chart path.series.his").count() == 1
    assert re.search(r"\b\d+ m\b", page.locator("#timeline").inner_text())  # and the breach's distances
    page.locator("#map").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "order-victim-track-en.png"))

    # a zone name with markup in it (names are data: they stay text wherever they are shown)
    order = builders.order(**builders.ZONES_ONLY)
    order["zones"]["features"][0]["properties"]["name"] = XSS_NAME
    status, body = serve.post(f"/api/v1/orders/{order['order_id']}/modify",
                              {"order": order, "reason": "the home's name as the victim gave it"}, court_token)
    assert status == 200, body
    page.goto(f"{base}/orders/{order['order_id']}")
    page.fill("#glass-reason", "checking the zones after the court's change")
    page.click("#glass-form button")
    home = page.wait_for_selector("#map path.zone")  # the home; hovered at its left edge, away from the markers
    home.hover(position={"x": 4, "y": home.bounding_box()["height"] / 2}, force=True)
    tooltip = page.wait_for_selector(".leaflet-tooltip")
    assert XSS_NAME in tooltip.inner_text() and page.evaluate("window.__xss") is None  # shown as text, never run
    assert XSS_NAME in page.inner_text("ul.zones")
    assert errors == []
    officer.close()

    # -- the court: the evidence bundle, downloaded from the order page --------------------------------------
    court = chromium.new_context(viewport={"width": 1360, "height": 900}, locale="en-US", accept_downloads=True)
    page = court.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(page, base, "judge-wang", secrets["judge-wang"])
    page.goto(f"{base}/orders/{builders.order()['order_id']}")
    page.fill("#export-reason", "hearing of 3 December, breach on the 30th")
    with page.expect_download(timeout=30000) as download:
        page.click("#export")
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    verdict = verify(saved.read_bytes())
    assert verdict.ok, verdict.problems
    assert verdict.order_id == builders.order()["order_id"] and verdict.records > len(walk)
    cli = serve.cli("evidence", "verify", str(saved))
    assert cli.returncode == 0 and "OK" in cli.stdout.upper(), cli.stdout
    page.wait_for_selector("#export-status:has-text('Downloaded')")
    page.locator("#export-form").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "evidence-en.png"))
    court.close()

    # -- the supervisor: who answered how fast ----------------------------------------------------------------
    sup = chromium.new_context(viewport={"width": 1360, "height": 760}, locale="zh-CN")
    page = sup.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(page, base, "supervisor-chen", secrets["supervisor-chen"])
    page.goto(f"{base}/accountability")
    figures = page.locator("#figures").inner_text()
    assert "police-west" in figures and "进入禁止区域" in figures
    page.screenshot(path=str(shots / "accountability-zh.png"), full_page=True)
    sup.close()
    assert errors == []
    time.sleep(0)  # nothing left running: the contexts are closed, serve stops with its fixture
