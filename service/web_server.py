"""The officers' web app served by a ``stayaway serve`` process: built from its parts, on its own thread.

Werkzeug's threaded server on the address of the settings (port 0: a free one); its request lines are
logged only at DEBUG. The app reads through the reader engine; sign-in and the court's steps on orders
write through the writer engine, one transaction each.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from werkzeug.serving import BaseWSGIServer, make_server

from service.adapters.broker import free_port
from service.live import AlertFeed
from service.settings import Settings


class WebServer:
    def __init__(self, settings: Settings, engine: Engine, reader: Engine, clock: Callable[[], datetime],
                 health: Callable[[], dict[str, Any]], act: Callable[..., dict[str, Any]], feed: AlertFeed) -> None:
        self.settings, self.engine, self.reader, self.clock = settings, engine, reader, clock
        self.health, self.act, self.feed = health, act, feed
        self.http: BaseWSGIServer | None = None
        self.url = ""

    def start(self) -> str:
        """Serves the app; returns its URL."""
        from service.auth import Auth
        from service.evidence.bundle import load_or_create_key
        from service.order_admin import OrderAdmin
        from service.web import WebDeps, create_app

        s = self.settings
        host, port = s.http_address()
        if port == 0:
            port = free_port(host)
        if s.log_level.upper() != "DEBUG":
            logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
        key = load_or_create_key(Path(s.evidence_key).expanduser() if s.evidence_key
                                 else s.data_path() / "evidence-key.pem")
        admin = OrderAdmin(self.engine, self.clock, s.legal_profile)
        admin.grace = timedelta(hours=s.end_grace_h)
        app = create_app(WebDeps(self.reader, self.health, self.act, Auth(self.engine, self.clock), admin, key,
                                 self.feed, s.timezone, s.map_tiles))
        self.http = make_server(host, port, app, threaded=True)
        threading.Thread(target=self.http.serve_forever, name="stayaway-web", daemon=True).start()
        self.url = f"http://{host}:{self.http.server_port}"
        return self.url

    def stop(self) -> None:
        if self.http is not None:
            self.http.shutdown()
