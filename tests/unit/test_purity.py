"""The core imports no I/O and reads no clock (STYLE.md, habit 1).

Each violation is reported as ``file:line: what``, so a failure points at the culprit.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PURE_PACKAGES = ["geofence", "alerts", "service/domain", "service/wire"]

FORBIDDEN_MODULES = frozenset({
    "paho", "sqlalchemy", "flask", "requests", "socket", "urllib", "sqlite3", "os", "time",
    # other ways to reach the network, the database, processes or a hidden import
    "http", "httpx", "psycopg", "amqtt", "subprocess", "importlib",
})
CLOCK_ATTRIBUTES = frozenset({"now", "utcnow", "today"})
TIME_MODULE_CLOCKS = frozenset({"time", "time_ns", "monotonic", "monotonic_ns", "perf_counter", "process_time"})


def violations(source: str, filename: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        where = f"{filename}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            found += [f"{where}: import {a.name}" for a in node.names if a.name.split(".")[0] in FORBIDDEN_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] in FORBIDDEN_MODULES:
                found.append(f"{where}: from {node.module} import ...")
        elif isinstance(node, ast.Attribute) and node.attr in CLOCK_ATTRIBUTES:
            found.append(f"{where}: reads the clock (.{node.attr})")
        elif (isinstance(node, ast.Attribute) and node.attr in TIME_MODULE_CLOCKS
              and isinstance(node.value, ast.Name) and node.value.id == "time"):
            found.append(f"{where}: reads the clock (time.{node.attr})")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "__import__":
            found.append(f"{where}: __import__")
    return found


def python_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", PURE_PACKAGES)
def test_pure_package_imports_no_io_and_reads_no_clock(package):
    files = python_files(package)
    assert files, f"no Python files under {package}: is ROOT right?"
    found = [v for path in files for v in violations(path.read_text(), str(path.relative_to(ROOT)))]
    assert found == [], "\n".join(found)


def test_the_walk_covers_the_core_modules():
    walked = {str(p.relative_to(ROOT)) for package in PURE_PACKAGES for p in python_files(package)}
    assert {"geofence/engine.py", "alerts/policy.py", "service/domain/monitoring/monitor.py",
            "service/wire/decode.py"} <= walked


@pytest.mark.parametrize("source, expected", [
    ("import os", "x.py:1: import os"),
    ("import os.path as p", "x.py:1: import os.path"),
    ("\nimport paho.mqtt.client as mqtt", "x.py:2: import paho.mqtt.client"),
    ("from sqlalchemy.orm import Session", "x.py:1: from sqlalchemy.orm import ..."),
    ("from urllib.parse import quote", "x.py:1: from urllib.parse import ..."),
    ("from time import monotonic", "x.py:1: from time import ..."),
    ("from datetime import datetime\nx = datetime.now()", "x.py:2: reads the clock (.now)"),
    ("import datetime\nx = datetime.datetime.utcnow()", "x.py:2: reads the clock (.utcnow)"),
    ("from datetime import date\nx = date.today()", "x.py:2: reads the clock (.today)"),
    ("x = time.time()", "x.py:1: reads the clock (time.time)"),
    ("f = field(default_factory=datetime.now)", "x.py:1: reads the clock (.now)"),
    ("m = __import__('socket')", "x.py:1: __import__"),
])
def test_the_checker_catches_each_kind_of_violation(source, expected):
    assert violations(source, "x.py") == [expected]


@pytest.mark.parametrize("source", [
    "import osgeo",
    "from timeit import x",
    "from . import os",
    "def f(now): return now",
    "from alerts.policy import breach_started",
    "x = clock.time()",
])
def test_the_checker_leaves_harmless_code_alone(source):
    assert violations(source, "x.py") == []
