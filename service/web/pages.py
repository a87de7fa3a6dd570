"""The officers' web app: server-rendered pages over the same rules as the JSON API.

- ``/signin``: name, password and TOTP code; the session lives in an HttpOnly, SameSite=Strict cookie.
- ``/board``: the live alert board (the agency's unresolved alerts; server-sent events from
  ``/api/v1/alerts/stream`` bring changes; acknowledge, dispatch, resolve; a sign near escalation).
- ``/orders`` and ``/orders/<id>``: the order (version in force, zones, parties, devices, service), its
  breach timeline, a map of the tracks and zones and a distance chart for a chosen window; the victim's
  track only under the need-to-know rule (or a recorded reason); the court's evidence download.
- ``/accountability``: response times per agency and alert kind, unanswered and escalated alerts.

The pages read through the API's own functions (``api.order_body``, ``timeline.timeline_body``...), so
a page never shows what the API would refuse. The JavaScript calls the API with the cookie, and sends
``X-CSRF-Token`` with every change (``service.web.security``). Victim coordinates never go into a URL:
a window is chosen by time, a break-glass reason is POSTed.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Response,
    g,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)

from alerts.model import Outcome
from service.auth import AuthError
from service.domain import access
from service.domain.access import Role
from service.domain.her_data import BUCKET
from service.errors import Forbidden, NotFound
from service.reads.timeline import MAX_POINTS
from service.web import deps
from service.web.i18n import LOCALES, negotiate
from service.web.security import SESSION_COOKIE, client_addr, cookie_session, csrf_token

bp = Blueprint("pages", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static/app")
SIGNIN_COOKIE = "stayaway_signin"  # the sign-in form's own CSRF value (double submit: no session yet)
OPEN_PAGES = frozenset({"pages.sign_in", "pages.static", "pages.leaflet"})
OUTCOMES = tuple(o.value for o in Outcome if o not in (Outcome.REFERRED, Outcome.CONDITION_ENDED))


@bp.before_request
def signed_in() -> Response | None:
    """Every page but sign-in and the static files: a live session from the cookie, else to /signin."""
    if request.endpoint in OPEN_PAGES:
        g.locale = negotiate(None, request.headers.get("Accept-Language"))
        return None
    auth = deps().auth
    token = cookie_session()
    p = auth.authenticate(token) if auth is not None and token else None
    if p is None or p.via != "session":
        return redirect(url_for("pages.sign_in", next=_local(request.full_path)))
    g.principal, g.token = p, token
    g.locale = negotiate(auth.locale(p.subject), request.headers.get("Accept-Language"))  # type: ignore[union-attr]
    if request.method == "POST" and not hmac.compare_digest(request.form.get("csrf", ""), csrf_token(token)):
        raise Forbidden("this form is out of date: reload the page")
    return None


@bp.context_processor
def page_globals() -> dict[str, Any]:
    p = g.get("principal")
    token = g.get("token")
    return {"me": p, "csrf": csrf_token(token) if token else "", "locale": g.get("locale", LOCALES[0]),
            "locales": LOCALES, "Role": Role,
            "may_see_accountability": p is not None and (p.role == Role.ADMIN or p.role == Role.SUPERVISOR)}


@bp.get("/")
def home() -> Response:
    return redirect(url_for("pages.board"))


@bp.route("/signin", methods=["GET", "POST"])
def sign_in():  # type: ignore[no-untyped-def]
    problem = None
    if request.method == "POST":
        form = request.form
        sent = request.cookies.get(SIGNIN_COOKIE, "")
        if not sent or not hmac.compare_digest(form.get("csrf", ""), sent):
            problem = "expired"
        elif deps().auth is None:
            problem = "unavailable"
        else:
            try:
                token = deps().auth.sign_in(form.get("account", "")[:200], form.get("password", "")[:200],  # type: ignore[union-attr]
                                            form.get("code", "").strip()[:20], client_addr())
            except AuthError as exc:
                problem = "locked" if exc.code == "locked" else "bad_credentials"
            else:
                response = redirect(_local(request.args.get("next")) or url_for("pages.board"))
                response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="Strict", secure=_secure(),
                                    path="/")
                response.delete_cookie(SIGNIN_COOKIE, path="/signin")
                return response
    value = secrets.token_urlsafe(24)
    response = Response(render_template("signin.html", problem=problem, signin_csrf=value),
                        status=401 if problem else 200)
    response.set_cookie(SIGNIN_COOKIE, value, httponly=True, samesite="Strict", secure=_secure(),
                        path="/signin")
    return response


@bp.post("/signout")
def sign_out() -> Response:
    deps().auth.sign_out(g.token, client_addr())  # type: ignore[union-attr]
    response = redirect(url_for("pages.sign_in"))
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@bp.post("/language")
def language() -> Response:
    chosen = request.form.get("locale")
    if chosen in LOCALES:
        deps().auth.set_locale(g.principal.subject, chosen)  # type: ignore[union-attr]
    return redirect(_local(request.form.get("back")) or url_for("pages.board"))


@bp.get("/static/leaflet/<path:name>")
def leaflet(name: str) -> Response:
    """Leaflet from its Python package (XStatic-Leaflet): installed with the app, never from a CDN."""
    import xstatic.pkg.leaflet as pkg

    return send_from_directory(pkg.BASE_DIR, name, max_age=3600)


# -- the live alert board ----------------------------------------------------------------------------------

@bp.get("/board")
def board() -> str:
    from service.reads.alerts import board_alerts

    p = g.principal
    alerts: list[dict[str, Any]] = board_alerts(deps().engine, p, 500) if p.agency_id else []
    return render_template("board.html", alerts=alerts, outcomes=OUTCOMES,
                           may_act=p.role in access.OFFICER_ROLES and bool(p.agency_id))


# -- orders and their timelines ------------------------------------------------------------------------------

@bp.get("/orders")
def orders() -> str:
    from service.reads.orders import visible_orders
    from service.web.api import _order

    rows = [_order(r) for r in visible_orders(deps().engine, g.principal)]
    return render_template("orders.html", orders=rows)


@bp.route("/orders/<order_id>", methods=["GET", "POST"])
def order(order_id: str) -> str:
    """GET: the window from ``?from=&to=`` (the browser's datetime-local, in the app's time zone; default the
    last 24 h). POST: the same with a break-glass ``reason`` that shows the victim's track (recorded)."""
    from service.web import orders_api
    from service.web.api import order_body
    from service.web.timeline import MAX_TIMELINE, timeline_body

    args = request.form if request.method == "POST" else request.args
    zone = ZoneInfo(deps().timezone)
    until = _local_time(args.get("to"), zone) or datetime.now(UTC)
    since = _local_time(args.get("from"), zone) or until - timedelta(hours=24)
    window_error = None
    if not since < until or until - since > MAX_TIMELINE:
        window_error = "window"
        until = datetime.now(UTC)
        since = until - timedelta(hours=24)
    reason = args.get("reason") if request.method == "POST" else None
    reason_error = reason is not None and len(reason.strip()) < access.MIN_REASON_CHARS
    body = order_body(order_id)  # 404 when unknown or out of scope, as the API
    if "parties" not in body:
        raise Forbidden("officers in scope only")
    tl = timeline_body(order_id, since, until, None if reason_error else reason)
    service = orders_api.service_body(order_id)
    versions = orders_api.versions_body(order_id)
    history = orders_api.history_body(order_id)
    from service.web.map_data import map_layers

    layers = map_layers(order_id, tl)
    p = g.principal
    scope = _scope(order_id)
    return render_template(
        "order.html", order=body, timeline=tl, service=service, versions=versions, history=history,
        layers=layers, window_error=window_error, reason_error=reason_error,
        window=_window_fields(since, until, zone),
        may_export=access.may_change_order(p, scope), min_reason=access.MIN_REASON_CHARS,
        map_tiles=deps().map_tiles, max_points=MAX_POINTS, coarse_minutes=int(BUCKET.total_seconds() // 60))


# -- accountability ----------------------------------------------------------------------------------------

@bp.get("/accountability")
def accountability_page() -> str:
    from alerts.accountability import accountability
    from service.reads.accountability import page_rows

    p = g.principal
    if not access.may_read_accountability(p, p.agency_id):
        raise Forbidden("supervisors see their agency's figures")
    shown = None if p.role == Role.ADMIN else {p.agency_id}
    zone = ZoneInfo(deps().timezone)
    until = _local_time(request.args.get("to"), zone) or datetime.now(UTC)
    since = _local_time(request.args.get("from"), zone) or until - timedelta(days=7)
    window_error = None
    if not since < until or until - since > timedelta(days=400):
        window_error = "window"
        until, since = datetime.now(UTC), datetime.now(UTC) - timedelta(days=7)
    # the list names orders: only alerts the person may read (an admin sees the figures, not the cases)
    rows, escalated, unanswered = page_rows(deps().engine, p, since, until)
    figures = [{"agency_id": agency, "kind": kind, **f.summary()}
               for (agency, kind), f in sorted(accountability(rows, escalated).items())
               if shown is None or agency in shown]
    return render_template("accountability.html", figures=figures, unanswered=unanswered,
                           window_error=window_error,
                           window=_window_fields(since, until, zone),
                           slowest=max((f["time_to_acknowledge"]["p90_s"] or 0 for f in figures), default=0) or 1)


# -- helpers -------------------------------------------------------------------------------------------------

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def _secure() -> bool:
    """Cookies are ``Secure`` everywhere but on this machine's loopback (the demo, tests): behind a TLS
    proxy that does not say so (no ProxyFix), the request looks like plain HTTP but the browser is on HTTPS."""
    return request.is_secure or request.host.rsplit(":", 1)[0] not in LOOPBACK_HOSTS


@bp.after_request
def page_headers(response: Response) -> Response:
    """A strict content security policy: scripts only from this site (no inline script runs, so an injected
    name cannot act as the officer), no framing, no referrer; pages are not cached (they hold case data)."""
    tiles = deps().map_tiles
    tile_origin = ""
    if tiles.startswith(("https://", "http://")):
        from urllib.parse import urlsplit

        parts = urlsplit(tiles.replace("{", "").replace("}", ""))
        tile_origin = f" {parts.scheme}://{parts.netloc}"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        f"img-src 'self' data:{tile_origin}; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    if request.endpoint not in ("pages.static", "pages.leaflet"):
        response.headers["Cache-Control"] = "no-store"
    return response

def _scope(order_id: str) -> access.OrderScope:
    from service.reads.orders import order_scope

    scope = order_scope(deps().engine, order_id)
    if scope is None:
        raise NotFound(f"no order {order_id}")
    return scope


def _local(path: str | None) -> str | None:
    """Only a path on this site: where to go back to after a form. Never ``//host``, a scheme, a backslash
    or a control or space character (browsers drop tabs and newlines: "/<tab>/evil" would be "//evil")."""
    from urllib.parse import urlsplit

    if not path or not path.startswith("/") or any(ord(c) < 0x21 or c in "\\\x7f" for c in path):
        return None
    parts = urlsplit(path)
    if parts.scheme or parts.netloc or path.startswith("//"):
        return None
    return path.rstrip("?")


def _window_fields(since: datetime, until: datetime, zone: ZoneInfo) -> dict[str, str]:
    """The window as the form's minute fields: the start rounded down, the end up, so sending the form back
    (a new window, a break-glass reason) never loses the reports of the last minute."""
    end = until if until == until.replace(second=0, microsecond=0) else \
        until.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return {"from": since.astimezone(zone).strftime("%Y-%m-%dT%H:%M"), "to": end.astimezone(zone).strftime("%Y-%m-%dT%H:%M")}


def _local_time(value: str | None, zone: ZoneInfo) -> datetime | None:
    """A ``datetime-local`` value (``2026-11-30T08:15``) in the app's time zone, or an RFC 3339 time."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
        at = (parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)).astimezone(UTC)
        (at - timedelta(days=400)).astimezone(zone)  # a window from it stays within the calendar
    except (ValueError, OverflowError):
        return None
    return at
