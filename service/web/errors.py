"""The API's error body: ``{"error": {"code", "message", "field"?}}`` with a stable code."""

from __future__ import annotations

from typing import Any

from flask import jsonify


def error(status: int, code: str, message: str, field: str | None = None):  # type: ignore[no-untyped-def]
    err: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        err["field"] = field
    return jsonify(error=err), status
