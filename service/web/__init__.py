"""The Flask app: health (open), the JSON API (signed in: service.web.security), and the officers' web
pages (service.web.pages: signed in with the session cookie).

``create_app`` takes its collaborators; it builds no adapter itself, so tests
hand it a real SQLite engine and the composition root hands it the live ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Flask, request

if TYPE_CHECKING:
    from service.auth import Auth
    from service.order_admin import OrderAdmin


@dataclass(frozen=True)
class WebDeps:
    engine: Any  # a reader engine (the service layer's reads, ``service.reads``, take it)
    health: Callable[[], dict[str, Any]]  # {"ready": bool, ...}
    # apply a lifecycle step to an alert on the ingest thread: (alert_id, action, body) -> alert fields
    act: Callable[[str, str, dict[str, Any]], dict[str, Any]] | None = None
    auth: Auth | None = None  # sign-in, sessions, tokens, the access audit; None: every API call is 401
    orders: OrderAdmin | None = None  # the court's steps on orders (a writer engine)
    evidence_key: Any = None  # the Ed25519 private key that signs evidence bundles; None: no downloads
    feed: Any = None  # service.live.AlertFeed: alert messages as they are published; None: no live stream
    timezone: str = "Asia/Shanghai"  # the web pages show times in this zone
    map_tiles: str = ""  # a tile URL template for the maps; "": a plain background


def create_app(deps: WebDeps, test_config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(JSON_SORT_KEYS=False)
    if test_config:
        app.config.update(test_config)
    app.extensions["stayaway"] = deps

    from service.web import (
        accountability,
        agencies_api,
        api,
        auth_api,
        health,
        openapi,
        orders_api,
        pages,
    )
    from service.web.i18n import install
    from service.web.security import authenticate

    protected = {b.name for b in (api.bp, orders_api.bp, accountability.bp, auth_api.bp, agencies_api.bp)}

    @app.before_request
    def signed_in_only() -> None:  # every blueprint but health: a valid Bearer token first
        if request.blueprint in protected:
            authenticate()
    app.register_blueprint(health.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(auth_api.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(orders_api.bp)
    app.register_blueprint(agencies_api.bp)
    app.register_blueprint(accountability.bp)
    app.register_blueprint(pages.bp)
    install(app, deps.timezone)

    from service.web.errors import install as install_errors

    install_errors(app)  # the one mapping of errors to HTTP answers (service.web.errors)

    return app


def deps() -> WebDeps:
    from flask import current_app

    return current_app.extensions["stayaway"]
