"""The Flask app: health, and a read-only JSON API (authentication arrives with the roles issue).

``create_app`` takes its collaborators; it builds no adapter itself, so tests
hand it a real SQLite engine and the composition root hands it the live ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, jsonify
from sqlalchemy.engine import Engine
from werkzeug.exceptions import HTTPException


@dataclass(frozen=True)
class WebDeps:
    engine: Engine  # a reader engine
    health: Callable[[], dict[str, Any]]  # {"ready": bool, ...}
    # apply a lifecycle step to an alert on the ingest thread: (alert_id, action, body) -> alert fields
    act: Callable[[str, str, dict[str, Any]], dict[str, Any]] | None = None


def create_app(deps: WebDeps, test_config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(JSON_SORT_KEYS=False)
    if test_config:
        app.config.update(test_config)
    app.extensions["stayaway"] = deps

    from service.web import accountability, api, health

    app.register_blueprint(health.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(accountability.bp)

    @app.errorhandler(HTTPException)
    def json_error(exc: HTTPException):  # type: ignore[no-untyped-def]
        return jsonify(error={"code": exc.name.lower().replace(" ", "_"), "message": exc.description}), exc.code

    return app


def deps() -> WebDeps:
    from flask import current_app

    return current_app.extensions["stayaway"]
