"""The API's error body: ``{"error": {"code", "message", "field"?}}`` with a stable code."""

from __future__ import annotations

from typing import Any

from flask import jsonify


def error(status: int, code: str, message: str, field: str | None = None):  # type: ignore[no-untyped-def]
    err: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        err["field"] = field
    return jsonify(error=err), status


class FieldError(Exception):
    """Raised by a handler for a bad parameter or body: 400 ``validation`` naming the field."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message, self.field = message, field
