"""The API's error body: ``{"error": {"code", "message", "field"?}}`` with a stable code."""

from __future__ import annotations

from datetime import datetime
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


def time_arg(name: str) -> datetime | None:
    """The query parameter ``name`` as an RFC 3339 time; None when absent; FieldError (400 naming the field,
    never quoting the value) when it is anything else, including a time outside the years 1900-2199."""
    from flask import request

    return time_value(request.args.get(name), name)


def time_value(raw: object, name: str) -> datetime | None:
    """``raw`` (a query parameter or a body field named ``name``) as an RFC 3339 time; None when absent or
    null; FieldError naming the field (never quoting the value) for anything else, including a time
    outside the years 1900-2199."""
    from service.wire.rfc3339 import WINDOW, parse_ts

    if raw is None:
        return None
    value = parse_ts(raw)
    if value is None:
        raise FieldError(f"{name} must be an RFC 3339 time within {WINDOW}, e.g. 2026-11-21T08:00:00Z", name)
    return value
