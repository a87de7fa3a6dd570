"""Signing in and out: ``POST /api/v1/auth/sign-in`` (name, password, TOTP code) gives a session token."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from service.auth import ABSOLUTE, IDLE, AuthError
from service.web import deps
from service.web.errors import FieldError, error
from service.web.security import client_addr, principal

bp = Blueprint("auth", __name__, url_prefix="/api/v1/auth")


@bp.post("/sign-in")
def sign_in():  # type: ignore[no-untyped-def]
    """Body ``{"account", "password", "code"}``. 200 ``{"token", "idle_timeout_s", "max_age_s"}``; 401
    ``bad_credentials`` (never which factor), 429 ``locked`` after 5 failures in 15 minutes."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return error(400, "bad_request", "the body must be a JSON object")
    for name in ("account", "password", "code"):
        if not isinstance(body.get(name), str) or not body[name] or len(body[name]) > 200:
            raise FieldError(f"{name} must be a non-empty string", name)
    auth = deps().auth
    if auth is None:
        return error(503, "unavailable", "sign-in is not configured")
    try:
        token = auth.sign_in(body["account"], body["password"], body["code"], client_addr())
    except AuthError as exc:
        return error(429 if exc.code == "locked" else 401, exc.code, exc.message)
    return jsonify(token=token, idle_timeout_s=int(IDLE.total_seconds()), max_age_s=int(ABSOLUTE.total_seconds()))


@bp.post("/sign-out")
def sign_out():  # type: ignore[no-untyped-def]
    token = g.get("token")  # the session it was signed in with (Bearer or the web app's cookie)
    auth = deps().auth
    if auth is not None and token:
        auth.sign_out(token, client_addr())
    return jsonify(signed_out=True)


@bp.get("/me")
def me():  # type: ignore[no-untyped-def]
    p = principal()
    return jsonify(subject=p.subject, role=p.role.value, agency_id=p.agency_id, via=p.via)
