"""``GET /healthz``: 200 once ingest is connected and subscribed, 503 before."""

from __future__ import annotations

from flask import Blueprint, jsonify

from service.web import deps

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():  # type: ignore[no-untyped-def]
    """Readiness and counters. 503 while the broker session is not subscribed."""
    state = deps().health()
    return jsonify(state), 200 if state.get("ready") else 503
