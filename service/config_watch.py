"""Picks up orders and agencies imported by another process (within ~``poll_s``)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from service.adapters.db import schema as t

log = logging.getLogger(__name__)
OVERLAP = timedelta(seconds=10)  # re-read a window, so a slow import's commit is never missed


class ConfigWatcher:
    def __init__(self, engine: Engine, call_soon: Callable[[Callable[[], None]], None],
                 reload_some: Callable[[list[str], bool], None], poll_s: float) -> None:
        self.engine, self.call_soon, self.reload_some, self.poll_s = engine, call_soon, reload_some, poll_s
        self._versions: dict[str, int] = {}
        self._agencies: tuple | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stayaway-config", daemon=True)

    def start(self) -> None:
        with self.engine.connect() as conn:
            self._versions = dict(conn.execute(sa.select(t.orders.c.order_id, t.orders.c.version)).all())
            self._agencies = self._agency_stamp(conn)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.poll()
            except Exception:  # noqa: BLE001 - keep watching
                log.exception("config poll failed")

    def poll(self) -> None:
        with self.engine.connect() as conn:
            newest = conn.execute(sa.select(sa.func.max(t.orders.c.updated_at))).scalar()
            changed: list[str] = []
            if newest is not None:
                rows = conn.execute(sa.select(t.orders.c.order_id, t.orders.c.version)
                                    .where(t.orders.c.updated_at >= newest - OVERLAP)).all()
                changed = [oid for oid, ver in rows if self._versions.get(oid) != ver]
                self._versions.update({oid: ver for oid, ver in rows})
            stamp = self._agency_stamp(conn)
            agencies_changed = stamp != self._agencies
            self._agencies = stamp
        if changed or agencies_changed:
            self.call_soon(lambda: self.reload_some(changed, agencies_changed))

    @staticmethod
    def _agency_stamp(conn: sa.Connection) -> tuple:
        return tuple(conn.execute(sa.select(sa.func.count(), sa.func.max(t.agencies.c.updated_at))).one())
