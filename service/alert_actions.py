"""An officer's step on an alert, applied on the ingest thread (the one writer, owner of the state).

The web thread calls :meth:`AlertActions.apply` and waits (up to ``ACT_TIMEOUT_S``) for the commit;
the step runs between two batches of the ingest loop: a referral's agency must be in the process's
agency directory, the alert changes in one transaction, and what the change publishes goes out after
the commit like every other alert message.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime
from typing import Any

from alerts import Alert, AlertEvent, lifecycle
from alerts.lifecycle import Actor, LifecycleError
from service.adapters.db.alerts_repo import OutboxItem
from service.domain.directory import Directory
from service.pipeline import Pipeline

ACT_TIMEOUT_S = 10.0  # how long an officer's request waits for the ingest thread to apply it

Step = Callable[[Alert, datetime], AlertEvent]


class AlertActions:
    def __init__(self, pipeline: Pipeline, directory: Directory, call_soon: Callable[[Callable[[], None]], None],
                 after_commit: Callable[[list[OutboxItem]], None], timeout_s: float = ACT_TIMEOUT_S) -> None:
        self.pipeline, self.directory, self.call_soon, self.after_commit = pipeline, directory, call_soon, after_commit
        self.timeout_s = timeout_s

    def apply(self, alert_id: str, action: str, body: dict[str, Any]) -> Alert:
        """From the web thread: the step ``action`` (acknowledge, dispatch, on_scene, resolve, refer) with
        the request's ``body``; returns the alert as committed."""
        actor = Actor(body["actor"], "person", body.get("agency_id"))
        steps = self._steps(actor, body)
        done: Future[Alert] = Future()

        def task() -> None:
            try:
                to_agency = body.get("to_agency") if action == "refer" else None
                if to_agency is not None and to_agency not in self.directory.ids():
                    raise LifecycleError("unknown_agency", f"no agency {to_agency}")
                alert, outbox = self.pipeline.act(alert_id, steps[action], actor.actor_id,
                                                  (to_agency,) if to_agency else ())
                self.after_commit(outbox)
                done.set_result(alert)
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting request
                done.set_exception(exc)

        self.call_soon(task)
        return done.result(timeout=self.timeout_s)

    def _steps(self, actor: Actor, body: dict[str, Any]) -> dict[str, Step]:
        note = body.get("note")
        return {
            "acknowledge": lambda a, at: lifecycle.acknowledge(a, actor, at, note),
            "dispatch": lambda a, at: lifecycle.dispatch(a, actor, at, body.get("unit") or "", note),
            "on_scene": lambda a, at: lifecycle.on_scene(a, actor, at, note),
            "resolve": lambda a, at: lifecycle.resolve(a, actor, at, body.get("outcome") or "", note),
            "refer": lambda a, at: lifecycle.refer(a, actor, at, body.get("to_agency") or "", note,
                                                   dict(self.directory.kinds)),
        }
