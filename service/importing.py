"""Import agencies and orders from the contract's files (section 4) into the database.

A running ``stayaway serve`` picks the changes up within ``config_poll_s``.

The order law holds here as through the API (``service.domain.law``, the court's legal profile): a new
order is held to its profile's term (``term_too_long``; an ordinary order without ``expires_at`` gets the
whole term), and a file for an order in force changes only its content (zones, devices, intervals,
distances): a change of ``type``, ``court``, ``issued_at`` or ``expires_at`` is refused naming the court's
step to use instead (``law.check_legal_fields``). A content change is a ``modified`` entry whose reason
says the file it came from (and the importer's ``reason``, when given). After every import, stored
orders that break their court's term are flagged to the court once (:func:`flag_terms`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from geofence import FrameCache, ZoneGeometryError, compile_zone
from service.adapters.db import (
    agencies_repo,
    alerts_repo,
    config_repo,
    history_repo,
    protection_repo,
    standing_repo,
)
from service.adapters.db import schema as t
from service.domain import law
from service.domain.monitoring import AgencyNotice, zone_anchor
from service.domain.orders import OrderSpec, parse_agencies, parse_order
from service.domain.profiles import LegalProfile
from service.domain.setup_checks import SetupWarning, setup_warnings
from service.errors import InvalidInput
from service.wire.rfc3339 import format_ts, parse_ts

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImportedOrder:
    order_id: str
    version: int
    source: str
    warnings: tuple[SetupWarning, ...] = ()


def read_json(path: Path) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from exc
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"{path} is not valid JSON (error at byte {exc.pos})") from exc


def import_agencies(engine: Engine, collection: Any, clock: Callable[[], datetime],
                    legal_profile: str | None = None) -> int:
    """The agencies file; a court's ``legal_profile`` may change what its stored orders may be: those that
    now break its term are flagged to it (:func:`flag_terms`). ``legal_profile``: the setting."""
    agencies = parse_agencies(collection)
    with engine.begin() as conn:
        now = clock()
        n = agencies_repo.save_agencies(conn, agencies, now)
        unanswered = protection_repo.orders_without_police(conn, now)
        if unanswered:  # every safety alert reaches police: the whole file is refused (the transaction rolls back)
            shown = ", ".join(unanswered[:20]) + (f" and {len(unanswered) - 20} more" if len(unanswered) > 20 else "")
            raise InvalidInput(
                f"this agencies file would leave orders with no police agency answering for them: {shown}; set "
                "their police_agency_id to a police agency of the file first (modify), or keep the jurisdictions "
                "holding their zones", "features")
        flag_terms(conn, legal_profile, now)
        return n


def import_orders(engine: Engine, bodies: Iterable[tuple[Any, str]], clock: Callable[[], datetime],
                  legal_profile: str | None = None, reason: str | None = None) -> list[ImportedOrder]:
    """``bodies``: (order object or array of them, source label). All or nothing. ``legal_profile``: the
    setting (courts whose agency names none); ``reason``: the importer's words, on record with the file's
    name for every order it changes."""
    items = [(item, source, f"{source}[{i}]" if isinstance(body, list) else source)
             for body, source in bodies for i, item in enumerate(body if isinstance(body, list) else [body])]
    frames = FrameCache()
    out = []
    with engine.begin() as conn:
        kinds = agencies_repo.agency_kinds(conn)
        now = clock()
        for item, source, where in items:
            court = item.get("court") if isinstance(item, dict) else None
            order_id = item.get("order_id") if isinstance(item, dict) else None
            standing = standing_repo.load_standing(conn, order_id) if isinstance(order_id, str) else None
            try:
                if standing is not None and standing.status == law.OrderStatus.ACTIVE:
                    _legal_fields_kept(standing, item)
                elif isinstance(court, str) and kinds.get(court) == "court":  # a new order: its profile's term
                    item = with_term(item, agencies_repo.court_profile(conn, court, legal_profile))
                spec = parse_order(item)
                check_zones(spec, frames)
                warnings = setup_warnings(spec, frames)
                if kinds.get(spec.court_id) != "court":
                    raise InvalidInput(f"court {spec.court_id} is not a known court agency; import agencies first",
                                       "court")
                if standing is None:
                    law.check_term(spec.type, spec.issued_at, spec.expires_at,
                                   agencies_repo.court_profile(conn, spec.court_id, legal_profile))
                stored = [{"code": w.code, "message": w.message, "field": w.field} for w in warnings]
                # its devices and OwnTracks topics are bound there, or refused as through the API
                version = _save(conn, spec, standing, source, now, stored, reason)
                # what the write path added (a zone outside every police jurisdiction), printed too
                warnings = [SetupWarning(w["code"], w["message"], w.get("field"))
                            for w in config_repo.order_warnings(conn, spec.order_id)]
            except law.LegalError as exc:
                raise InvalidInput(f"{where}: {exc.message} ({exc.code})", exc.field) from exc
            except InvalidInput as exc:
                raise InvalidInput(f"{where}: {exc}", exc.field) from exc
            out.append(ImportedOrder(spec.order_id, version, source, tuple(warnings)))
        flag_terms(conn, legal_profile, now)
    return out


def _save(conn: Connection, spec: OrderSpec, standing: law.Standing | None, source: str, now: datetime,
          warnings: list[dict[str, Any]], reason: str | None) -> int:
    """A new order (``issued``), or a new version of one in force (``modified``, with what changed and a
    reason naming the file)."""
    said = f"imported from {Path(source).name}" + (f": {reason.strip()}" if reason and reason.strip() else "")
    event = None
    if standing is not None and standing.status == law.OrderStatus.ACTIVE:
        before = conn.execute(sa.select(t.orders.c.body).where(t.orders.c.order_id == spec.order_id)).scalar() or {}
        changed = sorted(k for k in set(spec.body) | set(before) if spec.body.get(k) != before.get(k))
        if changed:
            actor = law.Actor(f"import:{source}"[:64], "court")
            event = law.modify(standing, actor, said, now, changed)
            event.details["source"] = source
    return config_repo.save_order(conn, spec, source, now, warnings, None, said if event is not None else None,
                                  event=event)


def _legal_fields_kept(standing: law.Standing, item: Any) -> None:
    """A file for an order in force keeps its legal fields (``law.check_legal_fields``); read leniently so
    that a missing or unreadable field is refused as a change of it."""
    body = item if isinstance(item, dict) else {}
    law.check_legal_fields(standing, body.get("type"), body.get("court"), parse_ts(body.get("issued_at")),
                           parse_ts(body.get("expires_at")))  # type: ignore[arg-type]


def with_term(item: Any, profile: LegalProfile) -> Any:
    """A new ordinary order's body without ``expires_at`` gets its profile's whole term, in the body (the
    stored order says when it ends)."""
    if isinstance(item, dict) and item.get("type") == "ordinary" and item.get("expires_at") is None:
        issued = parse_ts(item.get("issued_at"))
        expires = law.default_expiry("ordinary", issued, profile) if issued is not None else None
        if expires is not None:
            return {**item, "expires_at": format_ts(expires)}
    return item


def flag_terms(conn: Connection, legal_profile: str | None, now: datetime) -> list[str]:
    """Orders in force that break their court's term (``law.term_breach``: stored before the profile held,
    or their court's profile changed), or that are still undecided (a temporary order, one without expiry)
    when their court's term has run from their issue (``law.undecided_too_long``, at ``now``), are flagged
    to the court, once each: a ``term_flagged`` entry and a notice (``stayaway/v1/agencies/{court}/notices``).
    They are never shortened or dropped: the court decides. Returns the flagged order ids."""
    o = t.orders.c
    rows = conn.execute(sa.select(o.order_id).where(o.status == law.OrderStatus.ACTIVE.value)).scalars().all()
    done = history_repo.noticed_orders(conn, rows, "term_flagged") if rows else set()
    flagged, notices = [], []
    for order_id in rows:
        if order_id in done:
            continue
        standing = standing_repo.load_standing(conn, order_id)
        if standing is None:
            continue
        profile = agencies_repo.court_profile(conn, standing.court_id, legal_profile)
        why, undecided = law.term_breach(standing, profile), False
        if why is None:
            why, undecided = law.undecided_too_long(standing, now, profile), True
        if why is None:
            continue
        history_repo.add_order_event(conn, law.LegalEvent(order_id, "term_flagged", now, "system", "system", None, {
            "profile": profile.name, "why": why, "source": profile.term.source, "undecided": undecided}))
        notices.append(AgencyNotice(standing.court_id, order_id, "term_flagged", {
            "kind": "term_flagged", "order_id": order_id, "profile": profile.name, "why": why,
            "undecided": undecided, "issued_at": standing.issued_at, "expires_at": standing.expires_at, "at": now}))
        log.warning("order %s breaks its court's legal profile %s: %s (flagged to %s; not shortened)", order_id,
                    profile.name, why, standing.court_id)
        flagged.append(order_id)
    alerts_repo.save_agency_notices(conn, notices, now)
    return flagged


def check_zones(spec: OrderSpec, frames: FrameCache) -> None:
    """Compile every zone once, so a geometry the engine cannot use is refused at import."""
    for i, z in enumerate(spec.zones):
        try:
            frame = frames.frame_for(*zone_anchor(spec.zones[0]))
            compile_zone(z.zone_id, z.kind, z.name, z.geometry, z.radius_m, frame)
        except ZoneGeometryError as exc:  # our own messages carry no coordinates
            raise InvalidInput(str(exc), f"zones.features[{i}].geometry") from exc
        except (ValueError, TypeError, IndexError, KeyError) as exc:  # a library's might: name the kind only
            raise InvalidInput(f"zone {z.zone_id}: unusable geometry ({exc.__class__.__name__})",
                               f"zones.features[{i}].geometry") from exc
