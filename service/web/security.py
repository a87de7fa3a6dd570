"""Who is asking: Bearer tokens (sessions and API tokens), a device's Basic credentials (the
victim's companion app signs in as her phone), or the web app's session cookie, on every API request;
and the audit.

The cookie (``stayaway_session``: HttpOnly, SameSite=Strict) holds a session token, never an API token.
A request that changes something with it must also carry ``X-CSRF-Token``, a value derived from the
session token that only the web app's own pages are given (``csrf_token``): another site can make a
browser send the cookie, never the header.

``authenticate`` runs before every request of the protected blueprints; a request without a valid
token gets 401 and reaches no handler. Out-of-scope objects answer 404, exactly as unknown ones
do (a guessed id tells nothing); a role that may never do something gets 403.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from flask import abort, g, request

from service.domain import access
from service.domain.access import OrderScope, Principal
from service.errors import Forbidden
from service.web import deps

PUBLIC_ENDPOINTS = frozenset({"auth.sign_in"})  # and the openapi and health blueprints, not protected
SESSION_COOKIE = "stayaway_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token(session_token: str) -> str:
    """The value a page sends in ``X-CSRF-Token`` with the cookie: derived from the session token, so only
    a page that the session's own server rendered knows it."""
    return hashlib.sha256(b"stayaway csrf\0" + session_token.encode()).hexdigest()


def cookie_session() -> str | None:
    """The session token in the web app's cookie (sessions only: an API token never lives in a browser)."""
    from service.auth import SESSION_PREFIX

    token = request.cookies.get(SESSION_COOKIE, "")
    return token if token.startswith(SESSION_PREFIX) and len(token) <= 100 else None


def authenticate() -> None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    auth = deps().auth
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    principal = None
    if auth is not None and scheme.lower() == "bearer":
        principal = auth.authenticate(token.strip())
        g.token = token.strip()
    elif auth is not None and not header and (cookie := cookie_session()) is not None:
        if request.method not in SAFE_METHODS and not hmac.compare_digest(
                request.headers.get(CSRF_HEADER, ""), csrf_token(cookie)):
            raise Forbidden(f"a change signed in by cookie needs the page's {CSRF_HEADER} header")
        principal = auth.authenticate(cookie)
        g.token = cookie
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


def readable_order(order_id: str) -> OrderScope:
    """The scope of an order the principal may read; NotFound (404) when unknown or out of scope."""
    from service.reads.orders import readable_scope

    return readable_scope(deps().engine, principal(), order_id)


def detailed_order(order_id: str) -> OrderScope:
    """As :func:`readable_order`, for a read of the order's details: Forbidden (403) for a reader who sees
    only that it exists."""
    scope = readable_order(order_id)
    if not access.may_read_order_details(principal(), scope):
        raise Forbidden("officers in scope only")
    return scope
