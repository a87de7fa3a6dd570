"""Who is asking: Bearer tokens (sessions and API tokens), or a device's Basic credentials (the
victim's companion app signs in as her phone), on every API request; and the audit.

``authenticate`` runs before every request of the protected blueprints; a request without a valid
token gets 401 and reaches no handler. Out-of-scope objects answer 404, exactly as unknown ones
do (a guessed id tells nothing); a role that may never do something gets 403.
"""

from __future__ import annotations

from typing import Any

from flask import abort, g, request

from service.domain.access import Principal
from service.web import deps

PUBLIC_ENDPOINTS = frozenset({"auth.sign_in"})  # and the openapi and health blueprints, not protected


def authenticate() -> None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    auth = deps().auth
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    principal = None
    if auth is not None and scheme.lower() == "bearer":
        principal = auth.authenticate(token.strip())
    elif auth is not None and scheme.lower() == "basic" and request.authorization is not None:
        creds = request.authorization  # a device: its id and broker password (the victim's app)
        if creds.username and creds.password:
            principal = auth.authenticate_device(creds.username, creds.password)
    if principal is None:
        abort(401, description="sign in first: Authorization: Bearer <session or API token>")
    g.principal = principal


def principal() -> Principal:
    return g.principal  # type: ignore[no-any-return]


def client_addr() -> str | None:
    return (request.remote_addr or "")[:64] or None


def audit(action: str, object_type: str | None, object_id: str | None, reason: str | None = None,
          outcome: str = "ok", details: dict[str, Any] | None = None) -> None:
    auth = deps().auth
    if auth is not None:
        auth.audit(g.get("principal"), action, object_type, object_id, client_addr(), reason, outcome, details)
