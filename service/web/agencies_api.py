"""Agencies: the list (officers and admins), and the agencies file loaded by an admin."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, request

from service.adapters.db import config_repo
from service.domain import access
from service.errors import InvalidInput
from service.web import deps
from service.web.errors import error
from service.web.security import audit, principal

bp = Blueprint("agencies_api", __name__, url_prefix="/api/v1/agencies")


@bp.get("")
def list_agencies():  # type: ignore[no-untyped-def]
    """Every agency's id, name and kind (no jurisdiction geometry): officers and admins."""
    p = principal()
    if p.role not in access.OFFICER_ROLES and p.role != access.Role.ADMIN:
        return error(403, "forbidden", "officers and admins only")
    with deps().engine.connect() as conn:
        agencies = config_repo.load_agencies(conn)
    return jsonify(agencies=[{"agency_id": a.agency_id, "name": a.name, "kind": a.kind} for a in agencies])


@bp.post("")
def import_agencies():  # type: ignore[no-untyped-def]
    """Body: the agencies file (a GeoJSON FeatureCollection, contract section 4): load or update. Admins."""
    if not access.may_manage_accounts(principal()):
        return error(403, "forbidden", "admins only")
    body = request.get_json(silent=True)
    if deps().orders is None:
        abort(503, description="needs the running service")
    try:
        n = deps().orders.import_agencies(body)  # type: ignore[union-attr]
    except InvalidInput as exc:
        return error(400, "validation", str(exc), exc.field)
    audit("permission_change", "agencies", None, None, "ok", {"imported": n})
    return jsonify(imported=n)
