"""The API's error body: ``{"error": {"code", "message", "field"?}}`` with a stable code, and the one place
that maps stayaway's error tree (``service.errors``, and the pure cores' own errors) to HTTP (``install``).

Handlers raise; they do not build error answers by hand:

- ``InvalidInput`` (``FieldError`` for a bad parameter): 400 ``validation`` naming its ``field``; one that
  carries its own ``code`` answers with it: ``DeviceUnavailable`` 409, ``NoPoliceAgency`` /
  ``UnknownPoliceAgency`` 422;
- ``Forbidden``: 403 with its code (``forbidden``, ``need_to_know``);
- ``NotFound``: 404 ``not_found`` (unknown and out of scope alike);
- ``Conflict``, ``law.LegalError``, ``alerts.lifecycle.LifecycleError``: 409 with their stable code;
- ``StorageUnavailable``: 503 ``unavailable`` (nothing was committed: the client may retry).

A page (the ``pages`` blueprint) gets the error page instead, in the reader's language.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from alerts.lifecycle import LifecycleError
from service.domain.law import DeviceUnavailable, LegalError
from service.domain.responsibility import NoPoliceAgency, UnknownPoliceAgency
from service.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    StorageUnavailable,
)


def error(status: int, code: str, message: str, field: str | None = None):  # type: ignore[no-untyped-def]
    err: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        err["field"] = field
    return jsonify(error=err), status


class FieldError(InvalidInput):
    """Raised by a handler for a bad parameter or body: 400 ``validation`` naming the field."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message, field)
        self.message = message


# status and default code per class; the most specific class of an error wins (its ``code``, if it has one)
HTTP: dict[type[BaseException], tuple[int, str]] = {
    DeviceUnavailable: (409, "device_unavailable"),
    NoPoliceAgency: (422, "no_police_agency"),
    UnknownPoliceAgency: (422, "unknown_police_agency"),
    InvalidInput: (400, "validation"),
    Forbidden: (403, "forbidden"),
    NotFound: (404, "not_found"),
    Conflict: (409, "conflict"),
    LegalError: (409, "conflict"),
    LifecycleError: (409, "conflict"),
    StorageUnavailable: (503, "unavailable"),
}
OWN_CODES = (DeviceUnavailable, NoPoliceAgency, UnknownPoliceAgency, Forbidden, Conflict, LegalError, LifecycleError)


def http_error(exc: BaseException) -> tuple[int, str, str, str | None]:
    """(status, code, message, field) for an error of the tree."""
    status, code = next(HTTP[c] for c in type(exc).__mro__ if c in HTTP)
    if isinstance(exc, OWN_CODES):
        code = getattr(exc, "code", code)
    message = exc.message if isinstance(exc, LegalError) else str(exc)
    return status, code, message, getattr(exc, "field", None)


def install(app: Flask) -> None:
    """The app's one error mapping: the tree above, and Flask's own HTTP errors (``abort``) in the same
    body; a page's error is the error page."""

    def tree_error(exc: Exception):  # type: ignore[no-untyped-def]
        status, code, message, field = http_error(exc)
        if request.blueprint == "pages":
            return render_template("error.html", code=status, description=message), status
        return error(status, code, message, field)

    def http_exception(exc: HTTPException):  # type: ignore[no-untyped-def]
        if request.blueprint == "pages":  # a page: a page, in the reader's language
            return render_template("error.html", code=exc.code, description=exc.description), exc.code
        return jsonify(error={"code": exc.name.lower().replace(" ", "_"), "message": exc.description}), exc.code

    for cls in HTTP:
        app.register_error_handler(cls, tree_error)
    app.register_error_handler(HTTPException, http_exception)


def time_arg(name: str) -> datetime | None:
    """The query parameter ``name`` as an RFC 3339 time; None when absent; FieldError (400 naming the field,
    never quoting the value) when it is anything else, including a time outside the years 1900-2199."""
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
