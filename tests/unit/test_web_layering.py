"""The web layer imports only the service layer (docs/architecture.md, "Layers"): no module under
``service/web/`` imports a repository or adapter (``service.adapters``) or SQLAlchemy; its reads go through
``service.reads``. Imports are read with ``ast`` (inside functions too), so a failure names file and line."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("service.adapters", "sqlalchemy")


def _forbidden(name: str) -> bool:
    return any(name == f or name.startswith(f + ".") for f in FORBIDDEN)


def imports_below(source: str, filename: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        where = f"{filename}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            found += [f"{where}: import {a.name}" for a in node.names if _forbidden(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            if any(_forbidden(n) for n in names):
                found.append(f"{where}: from {node.module} import {', '.join(a.name for a in node.names)}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "__import__":
            found.append(f"{where}: __import__")
    return found


def test_the_web_imports_no_adapter_and_no_sqlalchemy():
    files = sorted((ROOT / "service" / "web").rglob("*.py"))
    assert any(p.name == "api.py" for p in files), "no service/web/api.py: is ROOT right?"
    found = [v for p in files for v in imports_below(p.read_text(), str(p.relative_to(ROOT)))]
    assert found == [], "\n".join(found)


def test_the_check_sees_every_form_of_import():
    source = ("import sqlalchemy as sa\nfrom sqlalchemy.engine import Engine\nfrom service.adapters.db import config_repo\n"
              "from service import adapters\ndef f():\n    from service.adapters.db.timeline_repo import MAX_POINTS\n"
              "import service.reads\nfrom service.reads import orders\n")
    found = imports_below(source, "x.py")
    assert [f.split(":")[1] for f in found] == ["1", "2", "3", "4", "6"], found
