"""The README's first command runs ``stayaway demo``: here it runs once, fast, on the embedded broker."""

from __future__ import annotations

import os
import re
import subprocess
import sys


def test_demo_runs_the_scenario_and_every_expected_alert_arrives(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {**os.environ, "STAYAWAY_DATA_DIR": str(tmp_path), "COLUMNS": "160"}
    env.pop("STAYAWAY_MQTT_URL", None)
    env.pop("STAYAWAY_DATABASE_URL", None)
    result = subprocess.run([sys.executable, "-m", "service.cli", "demo", "--once", "--step-s", "0.05",
                             "--http", "127.0.0.1:0"], env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "web app http://127.0.0.1:" in out
    for agency in ("police-xinjin-west", "police-xinjin-east", "court-xinjin"):
        assert agency in out
    assert "panic" in out and "zone_breach" in out
    for account in ("officer-west", "judge", "supervisor-west"):  # the web app's people, with their TOTP secrets
        assert re.search(rf"{account}\s+secret [A-Z2-7]{{32}}", out), out[-2000:]
    assert (tmp_path / "demo.sqlite").exists()
