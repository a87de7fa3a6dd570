"""Picks up orders and agencies imported by another process (within ~``poll_s``)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from service.adapters.db import schema as t

log = logging.getLogger(__name__)


class ConfigWatcher:
    def __init__(self, engine: Engine, call_soon: Callable[[Callable[[], None]], None],
                 reload_some: Callable[[list[str], bool], None], poll_s: float) -> None:
        self.engine, self.call_soon, self.reload_some, self.poll_s = engine, call_soon, reload_some, poll_s
        self._versions: dict[str, tuple[int, str]] = {}
        self._stamp: tuple[tuple, tuple] = ((), ())
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stayaway-config", daemon=True)

    def start(self) -> None:
        with self.engine.connect() as conn:
            self._versions = self._all_versions(conn)
            self._stamp = self._stamps(conn)
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
        """One cheap aggregate per poll; the order list is read only when it changed."""
        with self.engine.connect() as conn:
            stamp = self._stamps(conn)
            if stamp == self._stamp:
                return
            versions = self._all_versions(conn) if stamp[0] != self._stamp[0] else self._versions
        changed = [oid for oid, ver in versions.items() if self._versions.get(oid) != ver]
        agencies_changed = stamp[1] != self._stamp[1]
        self._versions, self._stamp = versions, stamp
        if changed or agencies_changed:
            self.call_soon(lambda: self.reload_some(changed, agencies_changed))

    @staticmethod
    def _stamps(conn: sa.Connection) -> tuple[tuple, tuple]:
        o, a = t.orders.c, t.agencies.c
        orders = tuple(conn.execute(sa.select(sa.func.count(), sa.func.max(o.updated_at), sa.func.sum(o.version))).one())
        agencies = tuple(conn.execute(sa.select(sa.func.count(), sa.func.max(a.updated_at))).one())
        return orders, agencies

    @staticmethod
    def _all_versions(conn: sa.Connection) -> dict[str, tuple[int, str]]:
        """Per order, its version and status: an end (a cancellation, a supersession) keeps the version
        but changes the status, and must reach the monitor too."""
        o = t.orders.c
        return {oid: (ver, status) for oid, ver, status in conn.execute(sa.select(o.order_id, o.version, o.status))}
