"""The court's changes to orders, as the law allows them (``service.domain.law``), in one transaction each.

Used by the JSON API; ``stayaway orders import`` stays the bulk channel (``service.importing``),
and both write versions and the legal history the same way. A running ``serve`` picks every change
up within ``config_poll_s`` (the order's ``updated_at`` moves).

Every rule that differs between the law in force and the expert draft comes from the order's court's
legal profile (``agencies_repo.court_profile``: its agency's ``legal_profile``, else ``legal_profile``
here, the setting ``STAYAWAY_LEGAL_PROFILE``). The court's steps carry its decision date
(``decided_at``; default the time of entry): a cancellation or the end of an application ends the order
then, a modification's version is in force from then.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection, Engine

from geofence import FrameCache
from service.adapters.db import (
    agencies_repo,
    alerts_repo,
    config_repo,
    history_repo,
    standing_repo,
)
from service.domain import ends, law
from service.domain.monitoring import AgencyNotice
from service.domain.orders import OrderSpec, parse_order
from service.domain.profiles import LegalProfile
from service.domain.setup_checks import setup_warnings
from service.errors import InvalidInput, NotFound
from service.importing import check_zones, with_term

LEGAL_FIELDS = ("order_id", "type", "court", "issued_at", "expires_at")  # changed only through their own steps


class OrderAdmin:
    def __init__(self, engine: Engine, clock: Callable[[], datetime], legal_profile: str | None = None) -> None:
        self.engine, self.clock, self.legal_profile = engine, clock, legal_profile
        self.grace = ends.GRACE  # after an end, her panic still reaches police this long (STAYAWAY_END_GRACE_H)

    def profile(self, conn: Connection, court_id: str) -> LegalProfile:
        """The court's legal profile (its agency's, else the setting's, else the law in force)."""
        return agencies_repo.court_profile(conn, court_id, self.legal_profile)

    def create(self, body: Any, actor: law.Actor) -> dict[str, Any]:
        """Issue an order from its file body (contract section 4), held to its court's legal profile (an
        ordinary order without ``expires_at`` gets the profile's term, a longer one is ``term_too_long``).
        With ``supersedes`` naming a temporary order, the ordinary order replaces it in the same transaction."""
        supersedes = body.get("supersedes") if isinstance(body, dict) else None
        with self.engine.begin() as conn:
            now = self.clock()
            court = body.get("court") if isinstance(body, dict) else None
            if isinstance(court, str) and agencies_repo.agency_kinds(conn).get(court) == "court":
                body = with_term(body, self.profile(conn, court))
            spec = self._parse(body)
            self._court_known(conn, spec)
            # ids are unique across courts and never reused; another court's is refused as any unavailable id
            law.new_order_id(spec.order_id, spec.court_id, standing_repo.load_standing(conn, spec.order_id))
            law.issue(spec.order_id, spec.type, spec.court_id, spec.issued_at, spec.expires_at, actor, now,
                      self.profile(conn, spec.court_id))
            if supersedes is not None:  # first: the temporary order's devices pass to the ordinary one
                old = self._standing(conn, str(supersedes))
                if old.court_id != spec.court_id:  # another court's order: as if unknown
                    raise NotFound(f"no order {supersedes}")
                if spec.type != "ordinary":
                    raise law.LegalError("not_ordinary", "only an ordinary order supersedes a temporary one", "type")
                ended, event = law.supersede(old, spec.order_id, actor, now)
                standing_repo.save_standing(conn, ended, now, self.grace, event.reason)  # announced: replaced
                history_repo.add_order_event(conn, event)
            version = config_repo.save_order(conn, spec, f"api:{actor.actor_id}", now, self._warnings(spec), actor,
                                             body.get("reason"))
            warnings = config_repo.order_warnings(conn, spec.order_id)  # its set-up checks, for whoever issues it
        return {"order_id": spec.order_id, "version": version, "warnings": warnings}

    def modify(self, order_id: str, body: Any, actor: law.Actor, reason: str | None,
               decided_at: datetime | None = None) -> dict[str, Any]:
        """A new version of zones, distances or devices, in force from the court's decision date
        (``decided_at``, default now; not before the version in force took effect). The legal fields stay
        (extension, cancellation and the end of an application are their own steps)."""
        spec = self._parse(body)
        with self.engine.begin() as conn:
            now = self.clock()
            standing = self._standing(conn, order_id)
            current = config_repo.load_orders(conn, [order_id])
            if spec.order_id != order_id:
                raise InvalidInput("order_id cannot change", "order_id")
            before = current[0].body if current else {}
            for key in LEGAL_FIELDS:
                if body.get(key) != before.get(key):
                    if key in law.LEGAL_FIELD_STEPS:
                        raise InvalidInput(law.LEGAL_FIELD_STEPS[key].replace("{id}", order_id), key)
                    raise InvalidInput(f"{key} changes only through its own step (extend, cancel, end)", key)
            changed = sorted(k for k in set(body) | set(before) if k not in LEGAL_FIELDS and body.get(k) != before.get(k))
            event = law.modify(standing, actor, reason, now, changed, decided_at,
                               history_repo.in_force_from(conn, order_id))
            version = config_repo.save_order(conn, spec, f"api:{actor.actor_id}", now, self._warnings(spec), actor,
                                             reason, event=event, effective_from=event.details["decided_at"])
        return {"order_id": order_id, "version": version, "changed": changed,
                "effective_from": event.details["decided_at"]}

    def replace_device(self, order_id: str, role: str, device_id: str, actor: law.Actor,
                       reason: str | None) -> dict[str, Any]:
        """A party's new device (a broken tracker replaced): a new version of the order. The old device
        keeps reporting for the order until the new one's first message (``Monitor.add_handover``)."""
        if role not in ("respondent", "victim"):
            raise InvalidInput("role must be respondent or victim", "role")
        with self.engine.connect() as conn:
            current = config_repo.load_orders(conn, [order_id])
        if not current:
            raise NotFound(f"no order {order_id} in force")
        body = {**current[0].body, role: {**current[0].body[role], "device_id": device_id}}
        return self.modify(order_id, body, actor, reason)

    def release_device(self, order_id: str, role: str, what: str, actor: law.Actor,
                       reason: str | None) -> dict[str, Any]:
        """The order gives up a party's device (with its OwnTracks topic) or its OwnTracks topic, so that
        another order may name it: its court's step, or an admin's, with a reason (``law.release_device``).
        A new version without it, a ``device_released`` entry in the legal history, and a notice to the
        order's court (``stayaway/v1/agencies/{court}/notices``): protection that changes is never silent."""
        with self.engine.begin() as conn:
            now = self.clock()
            standing = self._standing(conn, order_id)
            [spec] = config_repo.load_orders(conn, [order_id]) or [None]
            if spec is None:
                law.release_device(standing, actor, role, what, None, None, reason, now)  # the law's answer first
                raise NotFound(f"no order {order_id} in force")
            party = spec.respondent if role == "respondent" else spec.victim
            event = law.release_device(standing, actor, role, what, party.device_id, party.owntracks_topic, reason,
                                       now)
            kept = {k: v for k, v in spec.body[role].items()
                    if k != "owntracks_topic" and (what != "device" or k != "device_id")}
            new = parse_order({**spec.body, role: kept})
            version = config_repo.save_order(conn, new, f"api:{actor.actor_id}", now, self._warnings(new), actor,
                                             reason, event=event)
            alerts_repo.save_agency_notices(conn, [AgencyNotice(spec.court_id, order_id, f"device_released:{version}", {
                "kind": "device_released", "order_id": order_id, "version": version, "role": role, "what": what,
                "by_role": actor.role, "reason": reason, "at": now})], now)
        return {"order_id": order_id, "version": version, "role": role, "what": what}

    def extend(self, order_id: str, new_expires_at: datetime, actor: law.Actor, reason: str | None,
               decided_at: datetime | None = None) -> dict[str, Any]:
        """The court extends the order as its profile allows, decided (``decided_at``, default now) before
        the order lapses. The new expiry is what counts: the version saying it takes effect when entered."""
        with self.engine.begin() as conn:
            now = self.clock()
            standing = self._standing(conn, order_id)
            extended, event = law.extend(standing, new_expires_at, actor, reason, now,
                                         self.profile(conn, standing.court_id), decided_at)
            [spec] = config_repo.load_orders(conn, [order_id]) or [None]
            version = None
            if spec is not None:  # the order's body says when it expires: a new version says the new date
                body = {**spec.body, "expires_at": event.details["to"].isoformat().replace("+00:00", "Z")}
                version = config_repo.save_order(conn, parse_order(body), f"api:{actor.actor_id}", now, None, actor,
                                                 reason)
            standing_repo.save_standing(conn, extended, now)
            history_repo.add_order_event(conn, event, version)
        return {"order_id": order_id, "expires_at": extended.expires_at, "extensions": extended.extensions}

    def cancel(self, order_id: str, actor: law.Actor, reason: str | None,
               decided_at: datetime | None = None) -> dict[str, Any]:
        """The court cancels the order; it ends at the decision date (``decided_at``, default now)."""
        return self._end(order_id, lambda s, now: law.cancel(s, actor, reason, now, decided_at))

    def end_application(self, order_id: str, outcome: str, actor: law.Actor, reason: str | None,
                        decided_at: datetime | None = None) -> dict[str, Any]:
        return self._end(order_id, lambda s, now: law.end_application(s, outcome, actor, reason, now, decided_at))

    def reconsideration(self, order_id: str, actor: law.Actor, reason: str | None, filed_at: datetime | None = None,
                        court: str | None = None) -> dict[str, Any]:
        """An application for reconsideration on record (filed ``filed_at``, default now), within the
        profile's window, at the profile's court (``court``: a known court agency). It suspends nothing."""
        with self.engine.begin() as conn:
            now = self.clock()
            standing = self._standing(conn, order_id)
            if court is not None and agencies_repo.agency_kinds(conn).get(court) != "court":
                raise InvalidInput(f"court {court} is not a known court agency", "court")
            received = history_repo.service_records(conn, [order_id]).get(order_id, {}).get("respondent")
            earlier = len(history_repo.order_events_of(conn, order_id, "reconsideration"))
            event = law.reconsideration_filed(standing, actor, reason, now, self.profile(conn, standing.court_id),
                                              filed_at, court, received, earlier)
            history_repo.add_order_event(conn, event)
        return {"order_id": order_id, "status": standing.status.value, "monitored": law.monitored(standing, now),
                "filed_at": event.details["filed_at"], "court": event.details["court"],
                "window_ends": event.details["window_ends"]}

    def reconsideration_decision(self, order_id: str, outcome: str, actor: law.Actor, reason: str | None,
                                 decided_at: datetime | None = None) -> dict[str, Any]:
        """The outcome of the pending application: ``upheld``, ``modified`` (the court then modifies the
        order: its own step, with the same decision date) or ``cancelled`` (the order ends at the decision
        date, through ``_end``)."""
        def decided(conn: Connection, standing: law.Standing, now: datetime) -> law.LegalEvent:
            filed = history_repo.order_events_of(conn, order_id, "reconsideration")
            done = history_repo.order_events_of(conn, order_id, "reconsideration_decided")
            pending = filed[-1] if len(filed) > len(done) else None
            return law.reconsideration_decided(standing, pending, outcome, actor, reason, now, decided_at)

        if outcome == "cancelled":
            result = self._end(order_id, lambda s, now: law.cancel(s, actor, reason, now, decided_at), decided)
            return {**result, "outcome": outcome}
        with self.engine.begin() as conn:
            now = self.clock()
            standing = self._standing(conn, order_id)
            event = decided(conn, standing, now)
            history_repo.add_order_event(conn, event)
        return {"order_id": order_id, "outcome": outcome, "status": standing.status.value,
                "decided_at": event.details["decided_at"]}

    def record_service(self, order_id: str, party: str, served_at: datetime, method: str | None,
                       actor: law.Actor) -> dict[str, Any]:
        with self.engine.begin() as conn:
            now = self.clock()
            standing = self._standing(conn, order_id)
            profile = self.profile(conn, standing.court_id)
            event = law.record_service(standing, party, served_at, actor, method, now, profile)
            history_repo.add_service_record(conn, order_id, party, served_at, actor.actor_id, method, now)
            history_repo.add_order_event(conn, event)
            served = history_repo.service_records(conn, [order_id]).get(order_id, {})
        return {"order_id": order_id, "served": sorted(served),
                "unserved": [p for p in profile.service.parties if p not in served]}

    def import_agencies(self, collection: Any) -> int:
        """The agencies file (contract section 4), as ``stayaway agencies import`` takes it (an admin's)."""
        from service.importing import import_agencies

        return import_agencies(self.engine, collection, self.clock, self.legal_profile)

    # -- helpers -------------------------------------------------------------------------------------
    def _end(self, order_id: str, step: Callable[[law.Standing, datetime], tuple[law.Standing, law.LegalEvent]],
             before: Callable[[Connection, law.Standing, datetime], law.LegalEvent] | None = None) -> dict[str, Any]:
        """Every ending step of the court (cancellation, the end of an application, a reconsideration that
        cancels): ``step`` gives the ended standing (``ended_at``: the decision date) and its entry;
        ``before``: an entry that leads to it (the reconsideration's decision), in the same transaction."""
        with self.engine.begin() as conn:
            now = self.clock()
            standing = self._standing(conn, order_id)
            first = before(conn, standing, now) if before is not None else None
            ended, event = step(standing, now)
            standing_repo.save_standing(conn, ended, now, self.grace, event.reason)  # announced there, with why
            if first is not None:
                history_repo.add_order_event(conn, first)
            history_repo.add_order_event(conn, event)
        return {"order_id": order_id, "status": ended.status.value, "ended_at": ended.ended_at}

    @staticmethod
    def _standing(conn: Connection, order_id: str) -> law.Standing:
        standing = standing_repo.load_standing(conn, order_id)
        if standing is None:
            raise NotFound(f"no order {order_id}")
        return standing

    @staticmethod
    def _parse(body: Any) -> OrderSpec:
        spec = parse_order(body)
        check_zones(spec, FrameCache())
        return spec

    @staticmethod
    def _court_known(conn: Connection, spec: OrderSpec) -> None:
        if agencies_repo.agency_kinds(conn).get(spec.court_id) != "court":
            raise InvalidInput(f"court {spec.court_id} is not a known court agency", "court")

    @staticmethod
    def _warnings(spec: OrderSpec) -> list[dict[str, Any]]:
        out = [{"code": w.code, "message": w.message, "field": w.field} for w in setup_warnings(spec, FrameCache())]
        if spec.min_distance_m is not None and spec.victim.device_id is None:
            out.append({"code": "no_victim_device", "message": "the victim has no device in this order: the moving "
                        "zone (min_distance_m) cannot be checked (victim_signal_lost)", "field": "victim.device_id"})
        return out
